/**
 * Server-rendered pages (login, update-password, consent, home): plain HTML that works without
 * JavaScript, with a strict Content-Security-Policy (no inline script) and no framing. For a
 * logged-in user a bar under the page says who it is, with a Logout button (a CSRF-checked POST).
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const PAGE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
};

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f6;color:#1f272e;margin:0}
main{max-width:400px;margin:8vh auto 16px;background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.1);padding:32px}
h1{font-size:20px;margin:0 0 16px}label{display:block;font-size:13px;margin:12px 0 4px;color:#525a61}
input{width:100%;box-sizing:border-box;padding:8px 10px;border:1px solid #d1d8dd;border-radius:6px;font-size:14px}
input:focus,button:focus,a:focus-visible{outline:2px solid #2490ef;outline-offset:1px}
button{margin-top:16px;width:100%;padding:9px;border:0;border-radius:6px;background:#171717;color:#fff;font-size:14px;cursor:pointer}
button.secondary{background:#f0f0f0;color:#1f272e}.error{background:#fff1f0;color:#c0392b;padding:8px 10px;border-radius:6px;font-size:13px}
ul{padding-left:20px}li{margin:6px 0;font-size:14px}.app{display:flex;gap:12px;align-items:center;margin-bottom:12px}.app img{width:40px;height:40px;border-radius:8px}.app h1{margin:0}
.row{display:flex;gap:8px}.row button{flex:1}a{color:#2463c4}
.hint{font-size:12px;color:#6c7680;margin:4px 0 0}.notice{background:#eef6ff;color:#1f4a7a;padding:8px 10px;border-radius:6px;font-size:13px}
.bar{max-width:400px;margin:0 auto 24px;display:flex;justify-content:space-between;align-items:center;font-size:13px;color:#525a61;padding:0 8px}
.bar form{margin:0}.bar button{margin:0;width:auto;padding:2px 6px;background:none;color:#2463c4;text-decoration:underline;font-size:13px}`;

/** A logged-in user, for the bar under the page with the Logout button (after the page's own form). */
export interface PageUser {
  name: string;
  fullName?: string;
}

export interface PageOptions {
  /** The session's CSRF token: in a `csrf-token` meta tag and the Logout form. */
  csrfToken?: string;
  /** The logged-in user: the page shows who it is and a Logout button (a POST with the token). */
  user?: PageUser;
}

/** The Logout form: a POST to /logout carrying the session's CSRF token. */
export function logoutForm(csrfToken: string | undefined, label = 'Logout'): string {
  const token = csrfToken ? `<input type="hidden" name="csrf_token" value="${escapeHtml(csrfToken)}">` : '';
  return `<form method="post" action="/logout">${token}<button type="submit">${escapeHtml(label)}</button></form>`;
}

export function renderPage(title: string, body: string, options: PageOptions = {}): string {
  const csrf = options.csrfToken ? `<meta name="csrf-token" content="${escapeHtml(options.csrfToken)}">` : '';
  const user = options.user;
  const bar = user
    ? `<footer class="bar"><span>Logged in as <strong>${escapeHtml(user.fullName || user.name)}</strong></span>${logoutForm(options.csrfToken)}</footer>`
    : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">${csrf}<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>${body}</main>${bar}</body></html>`;
}
