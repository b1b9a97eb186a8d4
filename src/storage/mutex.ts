/** A FIFO async lock: `acquire()` resolves with a release function once the lock is free. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /**
   * Waits for the lock. With `timeoutMs`, gives up after that long (the caller's place in the
   * queue is kept and released at once when its turn comes), so a stuck holder cannot hang
   * every waiter forever.
   */
  acquire(timeoutMs?: number): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const ready = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => next);
    if (timeoutMs === undefined) return ready;
    return new Promise((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new MutexTimeout(timeoutMs));
      }, timeoutMs);
      timer.unref?.();
      void ready.then((releaseLock) => {
        clearTimeout(timer);
        if (timedOut) releaseLock();
        else resolve(releaseLock);
      });
    });
  }
}

export class MutexTimeout extends Error {
  override name = 'MutexTimeout';
  constructor(readonly timeoutMs: number) {
    super(`lock not acquired within ${timeoutMs} ms`);
  }
}
