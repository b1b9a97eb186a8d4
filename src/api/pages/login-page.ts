/** `/login`: a server-rendered login form that works without JavaScript. */
import { escapeHtml, renderPage } from './page-layout.ts';

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
      : '<p>Enter the code from your authenticator app.</p>';
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

/** `redirect-to` is honoured only for same-origin paths; anything else goes to the default. */
export function safeRedirect(target: unknown, fallback: string): string {
  if (typeof target !== 'string' || !target.startsWith('/') || target.startsWith('//') || target.startsWith('/\\')) return fallback;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\\]/.test(target)) return fallback;
  return target;
}

export interface UpdatePasswordPageInput {
  key: string;
  expired: boolean;
  error?: string;
}

export function renderUpdatePasswordPage(input: UpdatePasswordPageInput): string {
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  const why = input.expired ? '<p>Your password has expired. Choose a new one to continue.</p>' : '';
  return renderPage(
    'Set a new password',
    `<h1>Set a new password</h1>${why}${error}<form method="post" action="/update-password"><input type="hidden" name="key" value="${escapeHtml(input.key)}"><label for="new_password">New password</label><input id="new_password" name="new_password" type="password" autocomplete="new-password" required autofocus><label for="confirm_password">Confirm new password</label><input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required><button type="submit">Save password</button></form>`,
  );
}
