/**
 * While the bench runs, idle CPUs poll instead of halting: the bench holds the kernel's PM QoS
 * request `/dev/cpu_dma_latency` at 0 µs (as cyclictest and tuned's latency profiles do), and
 * the kernel drops it when the file is closed — by `release()`, or by the process ending.
 *
 * Why: the load generator and the server share one machine. Between a request and its answer
 * the load generator's core goes idle; on a virtual machine a halted virtual CPU is woken by an
 * interrupt that goes through the hypervisor, and the server's write of the answer pays for
 * it. The bare server answers so fast that the load generator has seldom halted yet; a server
 * that takes longer nearly always finds it halted, so the machine's wake-up cost — not the
 * server's work — widens the gap, and by a different amount in every phase of the host
 * (docs/performance.md, eleventh pass). With idle CPUs polling, a wake-up is a flag the other
 * core sees.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

export const PM_QOS_DEVICE = '/dev/cpu_dma_latency';
const CPUIDLE_DRIVER = '/sys/devices/system/cpu/cpuidle/current_driver';

export interface IdlePolling {
  readonly held: boolean;
  /** For the report: what idle CPUs do during the run, and why. */
  readonly description: string;
  /** Drops the request (idempotent). */
  release(): void;
}

/** The machine's cpuidle driver (`haltpoll`, `intel_idle`, …), when Linux exposes it. */
export function cpuidleDriver(path = CPUIDLE_DRIVER): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function idleStatesLeft(reason: string): IdlePolling {
  return { held: false, description: `idle CPUs as the machine sets them (${reason})`, release() {} };
}

export function holdIdlePolling(device = PM_QOS_DEVICE): IdlePolling {
  let fd: number;
  try {
    fd = openSync(device, 'w');
  } catch (error) {
    return idleStatesLeft(`${device} not writable: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    // The request is a binary 32-bit latency in microseconds.
    writeSync(fd, Buffer.alloc(4));
  } catch (error) {
    closeSync(fd);
    return idleStatesLeft(`${device} refused the request: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let open = true;
  return {
    held: true,
    description: `idle CPUs poll instead of halting while the bench runs (${device} held at 0 µs; --no-idle-poll leaves them)`,
    release() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
