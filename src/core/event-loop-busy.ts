import { performance } from 'node:perf_hooks';

/**
 * A meter of this process's load: each call answers whether the event loop was busy at least
 * `threshold` (0–1) of the time since the previous call (or since the meter was made), and
 * starts the next period. Work that can wait asks it before running.
 */
export function eventLoopBusy(threshold = 0.5): () => boolean {
  if (!(threshold >= 0 && threshold <= 1)) throw new RangeError(`threshold must be between 0 and 1, got ${threshold}`);
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, last);
    last = now;
    return utilization >= threshold;
  };
}
