/**
 * Dates as the server sends them ("YYYY-MM-DD HH:MM:SS[.ffffff]", UTC) and as the user reads
 * and types them (local time).
 */
export function parseServerDatetime(value: unknown): Date | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const date = new Date(`${value.replace(' ', 'T').slice(0, 23)}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export function formatDatetime(value: unknown): string {
  const date = parseServerDatetime(value);
  return date ? dateTimeFormat.format(date) : '';
}

export function formatDate(value: unknown): string {
  if (typeof value !== 'string' || value === '') return '';
  const date = new Date(`${value.slice(0, 10)}T00:00:00`);
  return Number.isNaN(date.getTime()) ? value : dateFormat.format(date);
}

export function timeAgo(value: unknown, now = Date.now()): string {
  const date = parseServerDatetime(value);
  if (!date) return '';
  const seconds = Math.round((now - date.getTime()) / 1000);
  if (seconds < 0) return formatDatetime(value);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  if (seconds < 30 * 86_400) return `${Math.floor(seconds / 86_400)} d ago`;
  return formatDatetime(value);
}

const pad = (n: number) => String(n).padStart(2, '0');

/** A server datetime as the value of an `<input type="datetime-local">` (local time). */
export function toLocalInput(value: unknown): string {
  const date = parseServerDatetime(value);
  if (!date) return '';
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** An `<input type="datetime-local">` value (local time) as a server datetime (UTC). */
export function fromLocalInput(value: string): string {
  if (value === '') return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
}

/** Frappe's route slug of a DocType: `API Key` → `api-key`. */
export function slugOf(doctype: string): string {
  return doctype.toLowerCase().replace(/ /g, '-');
}

/** A User's name as Frappe shows it: full_name, else first, middle and last name, else the ID. */
export function personName(user: Record<string, unknown>): string {
  if (typeof user.full_name === 'string' && user.full_name.trim()) return user.full_name;
  const parts = [user.first_name, user.middle_name, user.last_name].filter((p): p is string => typeof p === 'string' && p.trim() !== '');
  return parts.length > 0 ? parts.join(' ') : String(user.name ?? '');
}
