/** The OAuth consent page: the application, what each requested scope allows, Allow / Deny. */
import { escapeHtml, renderPage } from './page-layout.ts';

const SCOPE_TEXT: Record<string, string> = {
  all: 'Everything you can do in this site, as you',
  openid: 'Know who you are: your full name, email, picture and roles',
  profile: 'See your name and picture',
  email: 'See your email address',
  roles: 'See your roles',
  read: 'Read everything you can read (no changes)',
};

export function describeScope(scope: string): string {
  const known = SCOPE_TEXT[scope];
  if (known) return known;
  if (scope.startsWith('method:')) return `Call the method ${scope.slice('method:'.length)}`;
  if (scope.endsWith(':write')) return `Read and change ${scope.slice(0, -':write'.length)} documents`;
  if (scope.endsWith(':read')) return `Read ${scope.slice(0, -':read'.length)} documents`;
  return `The scope "${scope}"`;
}

/**
 * Logos shown: https URLs, paths on this site and inline images (`data:image/…`), which the
 * page's CSP (`img-src 'self' https: data:`) allows; the name stands alone otherwise.
 */
export function logoAllowed(uri: string | null): uri is string {
  if (!uri) return false;
  return /^https:\/\/[^\s]+$/.test(uri) || /^\/(?![/\\])[^\s]*$/.test(uri) || /^data:image\/(png|gif|jpeg|webp|svg\+xml)[;,]/.test(uri);
}

export interface ConsentPageInput {
  appName: string;
  logoUri: string | null;
  clientUri: string | null;
  user: string;
  scopes: string[];
  params: Record<string, string>;
  csrfToken: string;
  action: string;
}

export function renderConsentPage(input: ConsentPageInput): string {
  const hidden = Object.entries(input.params)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');
  const logo = logoAllowed(input.logoUri) ? `<img src="${escapeHtml(input.logoUri)}" alt="${escapeHtml(input.appName)} logo">` : '';
  const site = input.clientUri && /^https?:\/\//.test(input.clientUri) ? `<p><small>${escapeHtml(input.clientUri)}</small></p>` : '';
  const body = `<div class="app">${logo}<h1>Allow ${escapeHtml(input.appName)}?</h1></div>${site}
<p>Signed in as <strong>${escapeHtml(input.user)}</strong>. <strong>${escapeHtml(input.appName)}</strong> asks to:</p>
<ul>${input.scopes.map((s) => `<li>${escapeHtml(describeScope(s))}</li>`).join('')}</ul>
<form method="post" action="${escapeHtml(input.action)}">${hidden}<input type="hidden" name="csrf_token" value="${escapeHtml(input.csrfToken)}">
<div class="row"><button type="submit" name="decision" value="deny" class="secondary">Deny</button><button type="submit" name="decision" value="allow">Allow</button></div></form>`;
  return renderPage('Confirm Access', body, { csrfToken: input.csrfToken, user: { name: input.user } });
}

export function renderOAuthErrorPage(error: string, description: string): string {
  return renderPage('Authorization failed', `<h1>Authorization failed</h1><p class="error">${escapeHtml(description)}</p><p><small>${escapeHtml(error)}</small></p>`);
}
