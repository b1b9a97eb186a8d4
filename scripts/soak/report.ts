/** The soak's figures: the table by kind of request, the memory rule, and the checks. */
import { KINDS, type KindStats, type LoadStats } from './load.ts';

export const MIB = 1024 * 1024;

/**
 * The memory rule: after the load and a quiet settle period, RSS must be back within
 * max(50 MiB, 50 % of the baseline) above the post-warm-up baseline. V8 gives back the heap it
 * grew under load only over later collections, and the allocator keeps freed pages, so "equal
 * to the baseline" would fail a healthy process; a leak that keeps even 1 KiB per request
 * exceeds 50 MiB after ~50,000 requests, well within a default run.
 */
export function memoryLimit(baselineBytes: number): number {
  return baselineBytes + Math.max(50 * MIB, 0.5 * baselineBytes);
}

export const MEMORY_RULE = 'RSS after ≤ baseline + max(50 MiB, 50 % of baseline)';

export interface Memory {
  baselineBytes: number;
  peakBytes: number;
  afterBytes: number;
  /** The kernel's high-water mark of the process (VmHWM) at the end. */
  highWaterBytes: number;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Totals {
  requests: number;
  ok: number;
  status5xx: number;
  other: number;
  errors: number;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

function kindTotals(k: KindStats): Totals {
  let ok = 0;
  let status5xx = 0;
  let other = 0;
  for (const [code, count] of Object.entries(k.status)) {
    if (code === '200') ok += count;
    else if (code.startsWith('5')) status5xx += count;
    else other += count;
  }
  return { requests: k.requests, ok, status5xx, other, errors: k.errors };
}

export function totals(stats: LoadStats): Totals {
  const sum: Totals = { requests: 0, ok: 0, status5xx: 0, other: 0, errors: 0 };
  for (const kind of KINDS) {
    const t = kindTotals(stats.kinds[kind]);
    sum.requests += t.requests;
    sum.ok += t.ok;
    sum.status5xx += t.status5xx;
    sum.other += t.other;
    sum.errors += t.errors;
  }
  return sum;
}

const n = (value: number) => value.toLocaleString('en-US');
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

/** The table of the measured run, one row per kind of request. */
export function formatTable(stats: LoadStats): string {
  const seconds = stats.seconds > 0 ? stats.seconds : 1;
  const header = ['kind', 'requests', '200', 'other 4xx', '5xx', 'no answer', 'req/s', 'p50 ms', 'p99 ms', 'max ms'];
  const rows: string[][] = [];
  for (const kind of KINDS) {
    const k = stats.kinds[kind];
    const t = kindTotals(k);
    rows.push([kind, n(t.requests), n(t.ok), n(t.other), n(t.status5xx), n(t.errors), (t.requests / seconds).toFixed(1), percentile(k.latencies, 50).toFixed(1), percentile(k.latencies, 99).toFixed(1), Math.max(0, ...k.latencies).toFixed(0)]);
  }
  const all = totals(stats);
  rows.push(['total', n(all.requests), n(all.ok), n(all.other), n(all.status5xx), n(all.errors), (all.requests / seconds).toFixed(1), '', '', '']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatMemory(memory: Memory): string {
  const limit = memoryLimit(memory.baselineBytes);
  return [
    `RSS baseline (after warm-up) ${mib(memory.baselineBytes)}, peak under load ${mib(memory.peakBytes)}, after load + settle ${mib(memory.afterBytes)} (kernel high-water mark ${mib(memory.highWaterBytes)})`,
    `memory rule: ${MEMORY_RULE} = ${mib(limit)}`,
  ].join('\n');
}

export interface CheckInput {
  all: LoadStats;
  acked: number;
  lost: number;
  memory: Memory;
  exitCode: number | null;
  exitSignal: string | null;
}

export function evaluateChecks(input: CheckInput): Check[] {
  const all = totals(input.all);
  const statuses = (pick: (code: string) => boolean) =>
    KINDS.flatMap((kind) => Object.entries(input.all.kinds[kind].status).filter(([code]) => pick(code)).map(([code, count]) => `${kind} ${code}×${count}`)).join(', ');
  const firstErrors = KINDS.map((kind) => input.all.kinds[kind].firstError && `${kind}: ${input.all.kinds[kind].firstError}`).filter(Boolean).join('; ');
  const limit = memoryLimit(input.memory.baselineBytes);
  return [
    { name: 'requests were served', ok: all.requests > 0 && all.ok > 0, detail: `${n(all.ok)} of ${n(all.requests)} answered 200` },
    { name: 'no 5xx', ok: all.status5xx === 0, detail: all.status5xx === 0 ? '0' : `${n(all.status5xx)}: ${statuses((c) => c.startsWith('5'))}` },
    { name: 'no connection error or timeout', ok: all.errors === 0, detail: all.errors === 0 ? '0' : `${n(all.errors)} (${firstErrors})` },
    { name: 'every answer 200', ok: all.other === 0, detail: all.other === 0 ? '0 others' : `${n(all.other)} others: ${statuses((c) => c !== '200' && !c.startsWith('5'))}` },
    { name: 'no acknowledged write lost', ok: input.acked > 0 && input.lost === 0, detail: `${n(input.acked)} acknowledged, ${n(input.lost)} missing` },
    { name: 'memory back near baseline', ok: input.memory.afterBytes > 0 && input.memory.afterBytes <= limit, detail: `${mib(input.memory.afterBytes)} ≤ ${mib(limit)}` },
    {
      name: 'SIGTERM: drained and exited 0',
      ok: input.exitCode === 0 && input.exitSignal === null,
      detail: input.exitSignal ? `killed by ${input.exitSignal}` : `exit code ${input.exitCode ?? '?'}`,
    },
  ];
}

export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  return checks.map((c) => `  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}`).join('\n');
}
