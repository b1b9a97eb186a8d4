/** Medians, ratios, the issue's targets, and the printed table. */
import type { Argon2Ceiling } from './argon2-ceiling.ts';
import type { Measurement } from './load.ts';
import type { Scenario, ServerKind } from './scenarios.ts';

export interface RunRecord {
  round: number;
  /** The bare node:http run just before this one. */
  bare: Measurement;
  measured: Measurement;
  /** measured.rps / bare.rps. */
  ratio: number;
  /** The fixed-rate login load beside the measured run (login storm only). */
  storm?: Measurement;
  /** Login storm only: the same read alone, measured just before the storm. */
  withoutStorm?: Measurement;
  /**
   * Scenarios whose server puts work off (`deferredWork`): CPU µs per request (warm-up included) it
   * spent after the run, until it went quiet.
   */
  deferredCpuUs?: number;
  /** Scenarios measured alternating (`alternate`): the windows without and with; `measured` is the latter merged. */
  alternated?: Alternated;
}

/** Windows without (one more) and with the work a scenario switches on: off, on, off, …, off. */
export interface Alternated {
  off: Measurement[];
  on: Measurement[];
}

/** What the switched-on work cost the throughput: the median, over its windows, of 1 − with ÷ the mean of the two without beside it. */
export function alternatedCost({ off, on }: Alternated): number {
  return median(on.map((m, i) => 1 - m.rps / (((off[i]?.rps ?? Number.NaN) + (off[i + 1]?.rps ?? Number.NaN)) / 2)));
}

export interface ScenarioReport {
  id: string;
  title: string;
  server: ServerKind;
  /** Medians over the rounds. */
  rps: number;
  p50: number;
  p99: number;
  /** Median of the per-round ratios to bare node:http. */
  ratio: number;
  /** Median server CPU µs per request (undefined when not measured, as beside a storm). */
  cpuUs?: number;
  /** Median of the per-round CPU ratios: bare's CPU per request ÷ cortado's. */
  cpuRatio?: number;
  /** Median CPU µs per request spent once the load ended (scenarios that defer work). */
  deferredCpuUs?: number;
  /** Scenarios measured alternating: the median over the rounds of `alternatedCost`, and each round's. */
  alternatedCost?: { median: number; rounds: number[] };
  targetRatio?: number;
  /** Requests that failed or answered non-2xx, over all rounds (should be 0). */
  failures: number;
  statusCodes: Record<string, number>;
  /** Login storm only: medians of the storm's own figures. */
  storm?: { rate: number; achievedRps: number; p50: number; p99: number; failures: number; readAloneRps: number; readAloneP99: number };
  runs: RunRecord[];
}

export interface TargetReport {
  target: string;
  measured: string;
  /** undefined: not measured in this run. */
  met?: boolean;
  note?: string;
}

/** The CPU the request log's rows cost once the load ended, beside the read's own. */
function deferredNote(logged: ScenarioReport, token: ScenarioReport | undefined): string | undefined {
  if (logged.deferredCpuUs === undefined) return undefined;
  const share = token?.cpuUs ? ` (${fixed((logged.deferredCpuUs / token.cpuUs) * 100, 0)}% of the read's ${fixed(token.cpuUs, 1)} µs)` : '';
  return `rows spooled while busy, written once the load ended: ${fixed(logged.deferredCpuUs, 1)} µs of CPU per request then${share}`;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function cpuFigures(runs: RunRecord[]): { cpuUs?: number; cpuRatio?: number } {
  const paired = runs.flatMap((r) => (r.measured.cpuUsPerRequest && r.bare.cpuUsPerRequest ? [{ cortado: r.measured.cpuUsPerRequest, bare: r.bare.cpuUsPerRequest }] : []));
  if (paired.length === 0) return {};
  return { cpuUs: median(paired.map((p) => p.cortado)), cpuRatio: median(paired.map((p) => p.bare / p.cortado)) };
}

function alternatedFigure(runs: RunRecord[]): { alternatedCost?: { median: number; rounds: number[] } } {
  const rounds = runs.flatMap((r) => (r.alternated ? [alternatedCost(r.alternated)] : []));
  return rounds.length === 0 ? {} : { alternatedCost: { median: median(rounds), rounds } };
}

function deferredFigure(runs: RunRecord[]): { deferredCpuUs?: number } {
  const deferred = runs.flatMap((r) => (r.deferredCpuUs === undefined ? [] : [r.deferredCpuUs]));
  return deferred.length === 0 ? {} : { deferredCpuUs: median(deferred) };
}

export function summariseScenario(scenario: Scenario, runs: RunRecord[], loginRate: number): ScenarioReport {
  const statusCodes: Record<string, number> = {};
  for (const run of runs) for (const [code, count] of Object.entries(run.measured.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + count;
  const failures = runs.reduce((sum, run) => sum + run.measured.non2xx + run.measured.errors + run.measured.timeouts, 0);
  const report: ScenarioReport = {
    id: scenario.id,
    title: scenario.title,
    server: scenario.server,
    rps: median(runs.map((r) => r.measured.rps)),
    p50: median(runs.map((r) => r.measured.p50)),
    p99: median(runs.map((r) => r.measured.p99)),
    ratio: median(runs.map((r) => r.ratio)),
    ...cpuFigures(runs),
    ...deferredFigure(runs),
    ...alternatedFigure(runs),
    targetRatio: scenario.targetRatio,
    failures,
    statusCodes,
    runs,
  };
  const storms = runs.map((r) => r.storm).filter((s): s is Measurement => s !== undefined);
  if (storms.length > 0) {
    report.storm = {
      rate: loginRate,
      achievedRps: median(storms.map((s) => s.rps)),
      p50: median(storms.map((s) => s.p50)),
      p99: median(storms.map((s) => s.p99)),
      failures: storms.reduce((sum, s) => sum + s.non2xx + s.errors + s.timeouts, 0),
      readAloneRps: median(runs.flatMap((r) => (r.withoutStorm ? [r.withoutStorm.rps] : []))),
      readAloneP99: median(runs.flatMap((r) => (r.withoutStorm ? [r.withoutStorm.p99] : []))),
    };
  }
  return report;
}

export interface BareSummary {
  rps: number;
  p50: number;
  p99: number;
  cpuUs?: number;
  runs: number;
}

export function bareSummary(reports: ScenarioReport[]): BareSummary {
  const bare = reports.flatMap((r) => r.runs.map((run) => run.bare));
  const cpu = bare.flatMap((m) => (m.cpuUsPerRequest ? [m.cpuUsPerRequest] : []));
  return {
    rps: median(bare.map((m) => m.rps)),
    p50: median(bare.map((m) => m.p50)),
    p99: median(bare.map((m) => m.p99)),
    ...(cpu.length > 0 ? { cpuUs: median(cpu) } : {}),
    runs: bare.length,
  };
}

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

export interface TargetInputs {
  /** Every scenario the bench knows (a target whose scenario did not run is "not measured"). */
  all: readonly Scenario[];
  reports: ScenarioReport[];
  peakRssBytes: number;
  /** The read scenarios run again after `--scale` seeded the site; undefined without --scale. */
  scale?: ScaleReport;
  /** argon2id verification alone on this machine; measured when the login scenario ran. */
  argon2?: Argon2Ceiling;
}

/** One read scenario at the seeded size and after `--scale`. */
export interface ScaleComparison {
  id: string;
  ratio: number;
  scaledRatio: number;
  /** 1 − scaled / small, the median of the rounds': the share of the ratio lost at scale (negative: it rose). */
  drop: number;
  failures: number;
}

export interface ScaleReport {
  factor: number;
  seeded: { todos: number; users: number; sessions: number; seconds: number };
  scenarios: ScenarioReport[];
  /** The same reads on a copy of the site at its seeded size, in the same rounds (what `comparison` compares with). */
  seededSize: ScenarioReport[];
  comparison: ScaleComparison[];
}

/**
 * Pairs each scaled read with the same scenario at the seeded size, measured in the same rounds
 * after the same bare run: the change is the median over the rounds of each round's own.
 */
export function compareScale(small: ScenarioReport[], scaled: ScenarioReport[]): ScaleComparison[] {
  const byId = new Map(small.map((r) => [r.id, r]));
  return scaled.flatMap((r) => {
    const before = byId.get(r.id);
    if (!before) return [];
    const rounds = r.runs.flatMap((run) => {
      const paired = before.runs.find((b) => b.round === run.round);
      return paired ? [1 - run.ratio / paired.ratio] : [];
    });
    const drop = rounds.length > 0 ? median(rounds) : 1 - r.ratio / before.ratio;
    return [{ id: r.id, ratio: before.ratio, scaledRatio: r.ratio, drop, failures: r.failures + before.failures }];
  });
}

export function evaluateTargets({ all, reports, peakRssBytes, scale, argon2 }: TargetInputs): TargetReport[] {
  const byId = new Map(reports.map((r) => [r.id, r]));
  const targets: TargetReport[] = [];
  for (const scenario of all) {
    if (scenario.targetRatio === undefined) continue;
    const report = byId.get(scenario.id);
    if (!report) {
      targets.push({ target: `${scenario.title}: ratio ≥ ${scenario.targetRatio.toFixed(2)}`, measured: 'not measured', note: 'scenario not run' });
      continue;
    }
    targets.push({
      target: `${scenario.title}: ratio ≥ ${scenario.targetRatio.toFixed(2)}`,
      measured: fixed(report.ratio, 3),
      met: report.failures === 0 && report.ratio >= scenario.targetRatio,
      note: report.failures > 0 ? `${report.failures} failed requests` : undefined,
    });
  }
  const scaleTarget = 'at 1M rows / 100k users / 100k sessions the read ratios drop by ≤ 10%';
  if (scale && scale.comparison.length > 0) {
    const worst = scale.comparison.reduce((a, b) => (b.drop > a.drop ? b : a));
    const full = scale.factor === 1;
    targets.push({
      target: scaleTarget,
      measured: scale.comparison.map((c) => `${c.id} ${fixed(c.ratio, 3)} → ${fixed(c.scaledRatio, 3)} (${c.drop >= 0 ? '−' : '+'}${fixed(Math.abs(c.drop) * 100, 1)}%)`).join('; '),
      met: full ? worst.drop <= 0.1 && scale.comparison.every((c) => c.failures === 0) : undefined,
      note: full
        ? `worst: ${worst.id}`
        : `--scale-factor ${scale.factor}: ${scale.seeded.todos} rows / ${scale.seeded.users} users / ${scale.seeded.sessions} sessions, not the target's sizes`,
    });
  } else {
    targets.push({ target: scaleTarget, measured: 'not measured', note: 'run with --scale' });
  }
  const token = byId.get('token');
  const storm = byId.get('login-storm');
  if (storm?.storm) {
    // Per round: the read with the storm against the same read alone just before it.
    const factor = median(storm.runs.flatMap((r) => (r.withoutStorm ? [r.measured.p99 / r.withoutStorm.p99] : [])));
    targets.push({
      target: "during the login storm the token read's p99 < 3× its p99 without",
      measured: `${fixed(storm.p99, 1)} ms with vs ${fixed(storm.storm.readAloneP99, 1)} ms without (×${fixed(factor, 2)}, median of rounds); storm ${fixed(storm.storm.achievedRps, 1)} of ${storm.storm.rate} logins/s asked`,
      met: factor < 3 && storm.failures === 0 && storm.storm.failures === 0,
      note: storm.storm.achievedRps < storm.storm.rate * 0.95 ? 'the server could not take the asked login rate' : undefined,
    });
  } else {
    targets.push({ target: "during the login storm the token read's p99 < 3× its p99 without", measured: 'not measured', note: 'login-storm not run' });
  }
  const logged = byId.get('request-log');
  if (logged?.alternatedCost) {
    // Judged on the windows alternating without and with the log, on one server under one load.
    const { median: cost, rounds } = logged.alternatedCost;
    const byRatios = token ? `; by the ratios to bare, ${fixed((1 - logged.ratio / token.ratio) * 100, 1)}% (${fixed(logged.ratio, 3)} with vs ${fixed(token.ratio, 3)} without)` : '';
    targets.push({
      target: 'log_api_requests on costs ≤ 10% of the read throughput',
      measured: `${fixed(cost * 100, 1)}% (windows alternating without and with it; rounds ${rounds.map((r) => `${fixed(r * 100, 1)}%`).join(', ')}${byRatios})`,
      met: cost <= 0.1 && logged.failures === 0,
      note: deferredNote(logged, token),
    });
  } else if (token && logged) {
    // Ratios, each paired with its own bare run, so drift of the machine between the two cancels.
    const cost = 1 - logged.ratio / token.ratio;
    targets.push({
      target: 'log_api_requests on costs ≤ 10% of the read throughput',
      measured: `${fixed(cost * 100, 1)}% (ratio ${fixed(logged.ratio, 3)} with vs ${fixed(token.ratio, 3)} without; ${fixed(logged.rps, 0)} vs ${fixed(token.rps, 0)} req/s)`,
      met: cost <= 0.1 && logged.failures === 0,
      note: deferredNote(logged, token),
    });
  } else {
    targets.push({ target: 'log_api_requests on costs ≤ 10% of the read throughput', measured: 'not measured', note: 'request-log or token not run' });
  }
  targets.push({
    target: "the server's RSS stays under 300 MB through the whole bench",
    measured: peakRssBytes > 0 ? `peak ${fixed(peakRssBytes / 1048576, 1)} MB (SQLite server)` : 'not measured',
    met: peakRssBytes > 0 ? peakRssBytes < 300 * 1048576 : undefined,
    note: peakRssBytes > 0 ? undefined : '/proc not readable',
  });
  const login = byId.get('login');
  targets.push(
    login
      ? {
          target: 'password logins ≥ 80/s on one core (argon2id, OWASP settings)',
          measured: `${fixed(login.rps, 1)} logins/s`,
          met: login.rps >= 80 && login.failures === 0,
          // The ceiling of this machine: a login cannot be cheaper than its hash.
          note: argon2 ? `argon2id verification alone: ${fixed(argon2.verifyCpuMs, 1)} ms of CPU, at most ${fixed(argon2.perSecond, 1)}/s on one core here` : undefined,
        }
      : { target: 'password logins ≥ 80/s on one core (argon2id, OWASP settings)', measured: 'not measured', note: 'login not run' },
  );
  return targets;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

const cpuCell = (n: number | undefined, digits: number) => (n === undefined ? '' : fixed(n, digits));

export function formatTable(reports: ScenarioReport[], bare: BareSummary): string {
  const rows: string[][] = [['scenario', 'req/s', 'p50 ms', 'p99 ms', 'ratio', 'cpu µs', 'cpu ratio', 'target', 'failed']];
  rows.push(['bare node:http (same JSON body)', fixed(bare.rps, 0), fixed(bare.p50, 1), fixed(bare.p99, 1), '1.000', cpuCell(bare.cpuUs, 1), bare.cpuUs === undefined ? '' : '1.000', '', '']);
  for (const r of reports) {
    const target = r.targetRatio === undefined ? '' : `≥ ${r.targetRatio.toFixed(2)} ${r.failures === 0 && r.ratio >= r.targetRatio ? 'met' : 'NOT met'}`;
    rows.push([`${r.id}: ${r.title}`, fixed(r.rps, 0), fixed(r.p50, 1), fixed(r.p99, 1), fixed(r.ratio, 3), cpuCell(r.cpuUs, 1), cpuCell(r.cpuRatio, 3), target, String(r.failures)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row, index) => row.map((cell, i) => pad(cell, widths[i]!, i > 0 && i < 7 && index > 0)).join('  ').trimEnd()).join('\n');
}

export function formatMarkdownTable(reports: ScenarioReport[], bare: BareSummary): string {
  const lines = [
    '| scenario | req/s (median) | p50 ms | p99 ms | ratio to bare | server CPU µs/request | CPU ratio | target |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  lines.push(`| bare node:http (same JSON body) | ${fixed(bare.rps, 0)} | ${fixed(bare.p50, 1)} | ${fixed(bare.p99, 1)} | 1.000 | ${cpuCell(bare.cpuUs, 1)} | ${bare.cpuUs === undefined ? '' : '1.000'} | |`);
  for (const r of reports) {
    const target = r.targetRatio === undefined ? '' : `≥ ${r.targetRatio.toFixed(2)}: ${r.failures === 0 && r.ratio >= r.targetRatio ? 'met' : '**not met**'}`;
    lines.push(`| \`${r.id}\` ${r.title} | ${fixed(r.rps, 0)} | ${fixed(r.p50, 1)} | ${fixed(r.p99, 1)} | ${fixed(r.ratio, 3)} | ${cpuCell(r.cpuUs, 1)} | ${cpuCell(r.cpuRatio, 3)} | ${target} |`);
  }
  return lines.join('\n');
}

export function formatTargets(targets: TargetReport[]): string {
  return targets
    .map((t) => `  ${t.met === undefined ? 'not measured' : t.met ? 'met         ' : 'NOT met     '}  ${t.target}: ${t.measured}${t.note ? ` (${t.note})` : ''}`)
    .join('\n');
}

/** The read ratios at the seeded size and after --scale (plain text, or Markdown). */
export function formatScale(scale: ScaleReport, markdown = false): string {
  const s = scale.seeded;
  const head = `--scale${scale.factor === 1 ? '' : ` (factor ${scale.factor})`}: +${s.todos.toLocaleString('en')} ToDo rows, +${s.users.toLocaleString('en')} users with API keys, +${s.sessions.toLocaleString('en')} sessions (seeded in ${fixed(s.seconds, 0)} s)`;
  const byId = new Map(scale.scenarios.map((r) => [r.id, r]));
  const rows = scale.comparison.map((c) => {
    const r = byId.get(c.id);
    return [c.id, fixed(c.ratio, 3), fixed(c.scaledRatio, 3), `${c.drop >= 0 ? '−' : '+'}${fixed(Math.abs(c.drop) * 100, 1)}%`, r ? fixed(r.rps, 0) : '', r ? fixed(r.p99, 1) : '', String(c.failures)];
  });
  const header = ['scenario', 'ratio at seeded size', 'ratio at scale', 'change (median of rounds)', 'req/s at scale', 'p99 ms at scale', 'failed'];
  if (markdown) {
    return [head, '', `| ${header.join(' | ')} |`, `| --- | ${header.slice(1).map(() => '---:').join(' | ')} |`, ...rows.map((r) => `| \`${r[0]}\` | ${r.slice(1).join(' | ')} |`)].join('\n');
  }
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return [head, ...all.map((row) => row.map((cell, i) => pad(cell, widths[i]!, i > 0)).join('  ').trimEnd())].join('\n');
}
