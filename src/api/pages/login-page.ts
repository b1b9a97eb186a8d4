/**
 * `/login`, `/update-password` and the small home page `/`: server-rendered forms that work
 * without JavaScript (the pages carry no script at all).
 */
import { escapeHtml, renderPage, type PageUser } from './page-layout.ts';

export interface LoginPageInput {
  redirectTo: string;
  error?: string;
  usr?: string;
  otp?: { tmpId: string; totpUri?: string; prompt?: string };
}

export function renderLoginPage(input: LoginPageInput): string {
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  const redirect = `<input type="hidden" name="redirect-to" value="${escapeHtml(input.redirectTo)}">`;
  if (input.otp) {
    const setup = input.otp.totpUri
      ? `<p>Add this account to your authenticator app, then enter the code it shows.</p><p><code style="word-break:break-all">${escapeHtml(input.otp.totpUri)}</code></p>`
      : `<p>${escapeHtml(input.otp.prompt || 'Enter the code from your authenticator app.')}</p>`;
    return renderPage(
      'Verification',
      `<h1>Verification</h1>${error}${setup}<form method="post" action="/login">${redirect}<input type="hidden" name="tmp_id" value="${escapeHtml(input.otp.tmpId)}"><label for="otp">Verification code</label><input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" required autofocus><button type="submit">Verify</button></form>`,
    );
  }
  return renderPage(
    'Login',
    `<h1>Login</h1>${error}<form method="post" action="/login">${redirect}<label for="usr">Email or user name</label><input id="usr" name="usr" autocomplete="username" value="${escapeHtml(input.usr ?? '')}" required autofocus><label for="pwd">Password</label><input id="pwd" name="pwd" type="password" autocomplete="current-password" required><button type="submit">Login</button></form>`,
  );
}

const ORIGIN_PROBE = 'http://cortado.invalid';

/**
 * `redirect-to` is honoured only for a path on this site: absolute and protocol-relative URLs,
 * backslash tricks (`/\evil.com`), control characters (`/\t/evil.com` parses as `//evil.com`)
 * and anything a URL parser would take off-site fall back to `fallback`.
 */
export function safeRedirect(target: unknown, fallback: string): string {
  if (typeof target !== 'string' || !target.startsWith('/') || target.startsWith('//') || target.length > 2000) return fallback;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(target)) return fallback;
  try {
    if (new URL(target, ORIGIN_PROBE).origin !== ORIGIN_PROBE) return fallback;
  } catch {
    return fallback;
  }
  // A Location header holds ASCII only: anything else (`/app/中文`) is percent-encoded, not a 500.
  try {
    return target.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c));
  } catch {
    return fallback; // a lone surrogate
  }
}

/** Where a user lands after logging in when no `redirect-to` is given. */
export function homeOf(userType: string): string {
  return userType === 'System User' ? '/app' : '/';
}

export interface UpdatePasswordPageInput {
  key: string;
  expired: boolean;
  error?: string;
  /** No reset key, a logged-in user: the form asks for the current password. */
  user?: PageUser;
  csrfToken?: string;
}

const POLICY_HINT = 'Use at least 8 characters; not your user name, nor one character repeated.';

export function renderUpdatePasswordPage(input: UpdatePasswordPageInput): string {
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  const why = input.expired ? '<p class="notice">Your password has expired. Choose a new one to continue.</p>' : '';
  const options = { csrfToken: input.csrfToken, user: input.user };
  if (!input.key && !input.user) {
    return renderPage(
      'Set a new password',
      `<h1>Set a new password</h1>${error}<p>This page needs the link from a password reset email. Ask your System Manager for a new link, or <a href="/login">log in</a> to change your password.</p>`,
    );
  }
  const token = input.csrfToken ? `<input type="hidden" name="csrf_token" value="${escapeHtml(input.csrfToken)}">` : '';
  const current = input.key
    ? `<input type="hidden" name="key" value="${escapeHtml(input.key)}">`
    : '<label for="old_password">Current password</label><input id="old_password" name="old_password" type="password" autocomplete="current-password" required autofocus>';
  const focus = input.key ? ' autofocus' : '';
  return renderPage(
    'Set a new password',
    `<h1>Set a new password</h1>${why}${error}<form method="post" action="/update-password">${token}${current}<label for="new_password">New password</label><input id="new_password" name="new_password" type="password" autocomplete="new-password" aria-describedby="password-hint" required${focus}><p id="password-hint" class="hint">${POLICY_HINT}</p><label for="confirm_password">Confirm new password</label><input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required><button type="submit">Save password</button></form>`,
    options,
  );
}

export interface HomePageInput {
  user?: PageUser & { systemUser: boolean };
  csrfToken?: string;
}

/** `/`: who is logged in (with the desk link for System Users and Logout), or the login link. */
export function renderHomePage(input: HomePageInput): string {
  const user = input.user;
  if (!user) return renderPage('cortado', '<h1>Welcome</h1><p>You are not logged in.</p><p><a href="/login">Login</a></p>');
  const desk = user.systemUser ? '<p><a href="/app">Open the desk</a></p>' : '';
  return renderPage(
    'cortado',
    `<h1>Welcome</h1><p>You are logged in as <strong>${escapeHtml(user.fullName || user.name)}</strong> (${escapeHtml(user.name)}).</p>${desk}<p><a href="/update-password">Change your password</a></p>`,
    { csrfToken: input.csrfToken, user },
  );
}
