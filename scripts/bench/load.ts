/** One autocannon run, reduced to what the report needs. */
import autocannon, { type AutocannonResult } from 'autocannon';

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  baseUrl: string;
  request: RequestSpec;
  connections: number;
  /** Seconds. */
  duration: number;
  /** Requests per second over all connections (a fixed-rate load); unlimited when absent. */
  overallRate?: number;
  /** The server's CPU seconds so far: with it, the run reports CPU time per request. */
  cpuSeconds?: () => number | undefined;
}

export interface Measurement {
  /** Successful (2xx) responses per second. */
  rps: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Status codes seen, with counts (to explain failures). */
  statusCodes: Record<string, number>;
  seconds: number;
  /**
   * The server's CPU time (user + system) per answered request, in µs: what the request cost
   * the server, unlike requests/s not swayed by how busy the load generator or the machine's
   * other tenants are.
   */
  cpuUsPerRequest?: number;
}

function measurement(result: AutocannonResult): Measurement {
  const seconds = result.duration > 0 ? result.duration : 1;
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stats.count;
  return {
    rps: result['2xx'] / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.latency.totalCount,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    seconds,
  };
}

/** Runs one load; a run that does not end on its own is stopped 30 s after its duration. */
export async function runLoad(options: LoadOptions): Promise<Measurement> {
  const { request } = options;
  // Only the options that are set: autocannon treats a present-but-undefined option differently.
  const instance = autocannon({
    url: options.baseUrl + request.path,
    method: request.method,
    connections: options.connections,
    duration: options.duration,
    timeout: 10,
    ...(request.headers ? { headers: request.headers } : {}),
    ...(request.body !== undefined ? { body: request.body } : {}),
    ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {}),
  });
  const watchdog = setTimeout(() => instance.stop(), (options.duration + 30) * 1000);
  const cpuBefore = options.cpuSeconds?.();
  try {
    const result = measurement(await instance);
    const cpuAfter = options.cpuSeconds?.();
    if (cpuBefore !== undefined && cpuAfter !== undefined && result.requests > 0) result.cpuUsPerRequest = ((cpuAfter - cpuBefore) * 1e6) / result.requests;
    return result;
  } finally {
    clearTimeout(watchdog);
  }
}

/**
 * Runs of the same load as one: requests, failures and CPU summed, requests/s over the summed
 * time, latency percentiles the median of the runs' (autocannon gives no histogram to merge).
 */
export function mergeMeasurements(runs: readonly Measurement[]): Measurement {
  const sum = (pick: (m: Measurement) => number) => runs.reduce((total, m) => total + pick(m), 0);
  const middle = (pick: (m: Measurement) => number) => {
    const sorted = runs.map(pick).sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  };
  const statusCodes: Record<string, number> = {};
  for (const m of runs) for (const [code, count] of Object.entries(m.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + count;
  const seconds = sum((m) => m.seconds);
  const requests = sum((m) => m.requests);
  const merged: Measurement = {
    rps: seconds > 0 ? sum((m) => m.rps * m.seconds) / seconds : 0,
    p50: middle((m) => m.p50),
    p99: middle((m) => m.p99),
    requests,
    non2xx: sum((m) => m.non2xx),
    errors: sum((m) => m.errors),
    timeouts: sum((m) => m.timeouts),
    statusCodes,
    seconds,
  };
  if (requests > 0 && runs.every((m) => m.cpuUsPerRequest !== undefined)) merged.cpuUsPerRequest = sum((m) => (m.cpuUsPerRequest as number) * m.requests) / requests;
  return merged;
}
