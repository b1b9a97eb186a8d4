/**
 * The login target of `npm run bench` shows the machine's argon2id ceiling beside it, when the
 * bench measured one (a pure function: no server is started).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateTargets, type ScenarioReport } from '../../scripts/bench/report.ts';

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
