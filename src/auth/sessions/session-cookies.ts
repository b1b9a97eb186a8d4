/**
 * Frappe's login cookies (auth.py CookieManager): `sid` (HttpOnly, SameSite=Lax, Max-Age =
 * the session expiry) and the readable `system_user`, `full_name`, `user_id`, `user_image`,
 * `user_lang` that frappe-ui and the desk read to know who is logged in.
 */
import type { CookieOptions, ResponseControl } from '../../core/request-info.ts';

export const AUTH_COOKIES = ['sid', 'system_user', 'full_name', 'user_id', 'user_image', 'user_lang'] as const;

/** Python's `quote`: percent-encoding that leaves `/` alone. */
function quote(value: string): string {
  return encodeURIComponent(value).replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface LoginCookieValues {
  sid: string;
  maxAge: number;
  user: string;
  fullName: string;
  systemUser: boolean;
  userImage?: string | null;
  language?: string | null;
}

// A resumed session re-sends its cookie on every response (Frappe does): the options differ
// only when the second or the expiry changes, so they are made once per both.
let sidOptions: { second: number; maxAge: number; secure: CookieOptions; plain: CookieOptions } | undefined;

export function setSidCookie(response: ResponseControl, sid: string, maxAge: number, secure: boolean): void {
  const second = Math.floor(Date.now() / 1000);
  if (sidOptions?.second !== second || sidOptions.maxAge !== maxAge) {
    const expires = new Date((second + maxAge) * 1000);
    const options = { maxAge, expires, httpOnly: true, sameSite: 'lax', path: '/' } as const;
    sidOptions = { second, maxAge, secure: Object.freeze({ ...options, secure: true }), plain: Object.freeze({ ...options, secure: false }) };
  }
  response.setCookie('sid', sid, secure ? sidOptions.secure : sidOptions.plain);
}

export function setLoginCookies(response: ResponseControl, values: LoginCookieValues, secure: boolean): void {
  setSidCookie(response, values.sid, values.maxAge, secure);
  // frappe-ui decides "logged in" from these; they hold nothing secret. The values are
  // already quoted as Python does: the identity `encode` stops Fastify from encoding them a
  // second time (`%40` → `%2540`); the adapter hands these options to reply.setCookie as given.
  const plain = { path: '/', sameSite: 'lax', secure, encode: (value: string) => value } satisfies CookieOptions & { encode(value: string): string };
  response.setCookie('system_user', values.systemUser ? 'yes' : 'no', plain);
  response.setCookie('full_name', quote(values.fullName), plain);
  response.setCookie('user_id', quote(values.user), plain);
  response.setCookie('user_image', quote(values.userImage ?? ''), plain);
  response.setCookie('user_lang', quote(values.language ?? 'en'), plain);
}

/** The cookies of a fresh login (the `session` part of a login outcome). */
export function setSessionLoginCookies(
  response: ResponseControl,
  session: { sid: string; maxAge: number; principal: { userType: string }; user: { name: string; user_image: string | null; language: string | null }; record: { data: { full_name?: string } } },
  secure: boolean,
): void {
  setLoginCookies(
    response,
    {
      sid: session.sid,
      maxAge: session.maxAge,
      user: session.user.name,
      fullName: String(session.record.data.full_name ?? session.user.name),
      systemUser: session.principal.userType === 'System User',
      userImage: session.user.user_image,
      language: session.user.language,
    },
    secure,
  );
}

/** Expires every auth cookie, as Frappe does on logout, expiry and AuthenticationError. */
export function clearLoginCookies(response: ResponseControl): void {
  const expired = new Date(Date.now() - 86_400_000);
  for (const name of AUTH_COOKIES) response.setCookie(name, '', { expires: expired, path: '/' });
}
