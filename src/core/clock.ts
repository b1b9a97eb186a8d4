/** Time source, injectable so tests of anything with a TTL can move time. */
export interface Clock {
  now(): Date;
  /** Milliseconds since the epoch without making a Date, when the clock can (`epochMs`). */
  nowMs?(): number;
}

export const systemClock: Clock = { now: () => new Date(), nowMs: Date.now };

/**
 * The clock's time in milliseconds since the epoch. Caches check their entries' age several
 * times per request, and a Date made for each check was a per cent of a read (docs/performance.md).
 */
export function epochMs(clock: Clock): number {
  return clock.nowMs ? clock.nowMs() : clock.now().getTime();
}

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

/**
 * `candidate`, or one microsecond after `previous` when `candidate` is not later: a document's
 * `modified` must move on every save, or a save made in the same millisecond as the one before
 * would pass the stale-document check (TimestampMismatchError) with the older value. Both in
 * `formatDatetime`'s shape, which sorts as text.
 */
export function datetimeAfter(previous: string, candidate: string): string {
  if (candidate > previous) return candidate;
  const ms = Date.parse(`${previous.slice(0, 23).replace(' ', 'T')}Z`);
  const micros = Number(previous.slice(23, 26));
  if (!Number.isFinite(ms) || previous.length !== 26 || !/^\d{3}$/.test(previous.slice(23, 26))) return candidate;
  return micros === 999 ? formatDatetime(new Date(ms + 1)) : `${previous.slice(0, 23)}${pad(micros + 1, 3)}`;
}

export function formatDate(date: Date): string {
  return formatDatetime(date).slice(0, 10);
}
