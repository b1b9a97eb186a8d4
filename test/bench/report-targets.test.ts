/**
 * The login target of `npm run bench` shows the machine's argon2id ceiling beside it, when the
 * bench measured one, and the request log's target the CPU its rows cost once the load ended
 * (pure functions: no server is started).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Measurement } from '../../scripts/bench/load.ts';
import { alternatedCost, compareScale, evaluateTargets, summariseScenario, type RunRecord, type ScenarioReport } from '../../scripts/bench/report.ts';

const login: ScenarioReport = { id: 'login', title: 'password login', server: 'sqlite', rps: 64.4, p50: 120, p99: 163, ratio: 0.002, failures: 0, statusCodes: { 200: 644 }, runs: [] };
const target = (argon2?: { verifyCpuMs: number; perSecond: number; samples: number }) =>
  evaluateTargets({ all: [], reports: [login], peakRssBytes: 0, argon2 }).find((t) => /password logins/.test(t.target));

test('the login target names the argon2id ceiling measured in the same run', () => {
  const judged = target({ verifyCpuMs: 15.2, perSecond: 65.8, samples: 10 });
  assert.equal(judged?.measured, '64.4 logins/s');
  assert.equal(judged?.met, false);
  assert.equal(judged?.note, 'argon2id verification alone: 15.2 ms of CPU, at most 65.8/s on one core here');
});

test('without a measured ceiling the login target has no note', () => {
  assert.equal(target()?.note, undefined);
});

const read = (id: string, rps: number, ratio: number, extra: Partial<ScenarioReport> = {}): ScenarioReport =>
  ({ id, title: id, server: 'sqlite', rps, p50: 1, p99: 2, ratio, failures: 0, statusCodes: { 200: 1 }, runs: [], ...extra });
const logTarget = (logged: ScenarioReport) =>
  evaluateTargets({ all: [], reports: [read('token', 20_000, 0.5, { cpuUs: 40 }), logged], peakRssBytes: 0 }).find((t) => /log_api_requests/.test(t.target));

test('the request log target is its throughput cost, with the CPU of rows written after the load beside it', () => {
  const judged = logTarget(read('request-log', 18_400, 0.46, { deferredCpuUs: 6 }));
  assert.match(judged?.measured ?? '', /^8\.0% \(ratio 0\.460 with vs 0\.500 without/);
  assert.equal(judged?.met, true);
  assert.equal(judged?.note, "rows spooled while busy, written once the load ended: 6.0 µs of CPU per request then (15% of the read's 40.0 µs)");
  assert.equal(logTarget(read('request-log', 17_000, 0.42))?.met, false);
  assert.equal(logTarget(read('request-log', 17_000, 0.42))?.note, undefined);
});

const windowOf = (rps: number): Measurement => ({ rps, p50: 1, p99: 2, requests: rps * 2, non2xx: 0, errors: 0, timeouts: 0, statusCodes: { 200: rps * 2 }, seconds: 2 });
const alternated = (off: number[], on: number[]): RunRecord => ({
  round: 1,
  bare: windowOf(50_000),
  measured: windowOf(on[0] ?? 0),
  ratio: 0.4,
  alternated: { off: off.map(windowOf), on: on.map(windowOf) },
});

test('a window with the log is judged against the two without it beside it; the cost is the median of the windows', () => {
  // Throughput drifting down 1,000 req/s a window: against its neighbours each "with" costs 5%.
  const drifting = alternated([20_000, 18_000, 16_000], [18_050, 16_150]);
  assert.ok(Math.abs(alternatedCost(drifting.alternated as NonNullable<RunRecord['alternated']>) - 0.05) < 1e-9);
  // One disturbed window does not move the median.
  assert.ok(Math.abs(alternatedCost({ off: [20_000, 20_000, 20_000, 20_000].map(windowOf), on: [19_000, 10_000, 19_000].map(windowOf) }) - 0.05) < 1e-9);
});

test('the request log target is judged on its alternating windows when it has them, the ratios to bare shown beside', () => {
  const rounds = [alternated([20_000, 20_000, 20_000], [19_000, 19_200]), alternated([20_000, 20_000, 20_000], [17_000, 17_600]), alternated([20_000, 20_000, 20_000], [18_800, 18_600])];
  const logged = summariseScenario({ id: 'request-log', title: 'log', server: 'sqlite', request: () => ({ method: 'GET', path: '/' }) }, rounds, 0);
  assert.deepEqual(logged.alternatedCost?.rounds.map((r) => Number(r.toFixed(3))), [0.045, 0.135, 0.065]);
  const judged = logTarget({ ...logged, deferredCpuUs: 6 });
  assert.equal(judged?.measured, '6.5% (windows alternating without and with it; rounds 4.5%, 13.5%, 6.5%; by the ratios to bare, 20.0% (0.400 with vs 0.500 without))');
  assert.equal(judged?.met, true);
  assert.match(judged?.note ?? '', /^rows spooled while busy, written once the load ended: 6\.0 µs/);
  const costly = summariseScenario({ id: 'request-log', title: 'log', server: 'sqlite', request: () => ({ method: 'GET', path: '/' }) }, [alternated([20_000, 20_000], [17_000])], 0);
  assert.equal(logTarget(costly)?.met, false);
});

test('the scale change pairs each round at scale with the same round at the seeded size', () => {
  const runsOf = (ratios: number[]): RunRecord[] => ratios.map((ratio, i) => ({ round: i + 1, bare: windowOf(50_000), measured: windowOf(ratio * 50_000), ratio }));
  const report = (id: string, ratios: number[]) => summariseScenario({ id, title: id, server: 'sqlite', request: () => ({ method: 'GET', path: '/' }) }, runsOf(ratios), 0);
  // One round's bare run was slow for the scaled server alone: per round −2 %, −20 %, −2.5 %.
  const [compared] = compareScale([report('token', [0.5, 0.5, 0.4])], [report('token', [0.49, 0.4, 0.39])]);
  assert.ok(compared && Math.abs(compared.drop - 0.025) < 1e-9, `median of the rounds' own changes: ${compared?.drop}`);
  assert.deepEqual([compared.ratio, compared.scaledRatio], [0.5, 0.4]);
});
