/** Time source, injectable so tests of anything with a TTL can move time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Frappe's datetime text: `YYYY-MM-DD HH:MM:SS.ffffff` (local wall time of the server in UTC). */
export function formatDatetime(date: Date): string {
  return (
    `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.` +
    `${pad(date.getUTCMilliseconds(), 3)}000`
  );
}

export function formatDate(date: Date): string {
  return formatDatetime(date).slice(0, 10);
}
