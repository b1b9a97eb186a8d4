/**
 * Crash safety (issue 9, item 4): `cortado serve` runs as a child process under a concurrent
 * write load and is killed with SIGKILL at a random moment, then started again on the same
 * site; three times per database.
 *
 * The load: CLIENTS loops, each inserting ToDos and Loans (the library fixture's submittable
 * DocType with a child table, named by the series LOAN-{YYYY}-{####}) and updating documents
 * it created (PUT: every field it sets at once; a Loan's items replaced as a whole). Every
 * answer the client saw as 200 is recorded with the values sent and the `modified` returned.
 * Each value carries a unique tag, so the stored row tells which request wrote it.
 *
 * After each restart, read directly from the database:
 * - every acknowledged insert exists, with the values of its last acknowledged write or of a
 *   later write (the one in flight when the process died, which may have committed);
 * - when the last acknowledged write is what is stored, `modified` is the one returned;
 * - no Loan is half-written: its items are exactly the rows of the write its remarks come
 *   from, and no item row lacks its Loan;
 * - the naming series never hands out a name twice: the series counter is at least the highest
 *   stored number, acknowledged names are unique, and a new Loan after the restart gets a
 *   higher number;
 * - the server answers normally (ping, /readyz, an insert).
 *
 * Runs on SQLite, and on PostgreSQL when CORTADO_TEST_PG_URL is set (a visibly skipped test
 * otherwise).
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openServingSite } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { createLogger } from '../../src/core/logger.ts';
import { createTestSite, forEachDatabase, type TestDatabase, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';
import { call, killAll, ServeProcess } from './scale-helpers.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));
const CLERK = 'crash.clerk@example.com';
const CLIENTS = 12;
const KILLS = 3;
/** The kill comes at a random moment this long after the first acknowledged write of a round. */
const KILL_AFTER_MS: [number, number] = [1000, 2000];

const sites: TestSite[] = [];
after(async () => {
  killAll();
  for (const site of sites) await site.cleanup();
});

interface Version {
  tag: string;
  status?: string;
  items?: number;
  acked: boolean;
  modified?: string;
}

interface Tracked {
  doctype: 'ToDo' | 'Loan';
  name: string;
  client: number;
  /** Every write sent for the document, in order (one client writes it, one request at a time). */
  versions: Version[];
}

interface Attempt {
  kind: 'insert ToDo' | 'insert Loan' | 'update ToDo' | 'update Loan';
  status: number;
  /** When the answer (or the failure) came. */
  at: number;
  error?: string;
}

const STATUSES = ['Open', 'Closed', 'Cancelled'];
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T;
const loanItems = (tag: string, count: number) => Array.from({ length: count }, (_, i) => ({ article: 'Dune', quantity: i + 1, note: `${tag}/${i + 1}` }));

class WriteLoad {
  readonly tracked = new Map<string, Tracked>();
  /** Tags of inserts that got no 200 (in flight at the kill): they may or may not be stored. */
  readonly unackedInserts: { doctype: 'ToDo' | 'Loan'; tag: string }[] = [];
  /** Updates that got no 200 (in flight at the kill): the document may hold them or not. */
  readonly unackedUpdates: { doc: Tracked; index: number }[] = [];
  readonly ackedLoanNames: string[] = [];
  attempts: Attempt[] = [];
  #running = false;
  #loops: Promise<void>[] = [];

  constructor(
    readonly db: TestDatabase,
    readonly auth: string,
    readonly member: string,
  ) {}

  start(url: string, round: number): void {
    this.attempts = [];
    this.#running = true;
    this.#loops = Array.from({ length: CLIENTS }, (_, client) => this.#loop(url, round, client));
  }

  /** No new writes from now on (the requests in flight finish or fail). */
  halt(): void {
    this.#running = false;
  }

  async stop(): Promise<void> {
    this.halt();
    await Promise.all(this.#loops);
  }

  async #loop(url: string, round: number, client: number): Promise<void> {
    const mine = () => [...this.tracked.values()].filter((t) => t.client === client);
    // Bounded: a loop ends when stopped, after 2000 writes, or after a minute.
    const deadline = Date.now() + 60_000;
    for (let seq = 0; this.#running && seq < 2000 && Date.now() < deadline; seq++) {
      const tag = `${this.db}-k${round}-c${client}-${seq}`;
      const roll = Math.random();
      const own = mine();
      if (roll < 0.35 || own.length === 0) await this.#insertToDo(url, client, tag);
      else if (roll < 0.65) await this.#insertLoan(url, client, tag);
      else {
        const target = pick(own);
        await this.#update(url, target, tag);
      }
    }
  }

  async #send(kind: Attempt['kind'], url: string, path: string, method: string, json: unknown): Promise<Record<string, unknown> | undefined> {
    try {
      const res = await call(url, path, { method, json, auth: this.auth, timeoutMs: 15_000 });
      this.attempts.push({ kind, status: res.status, at: Date.now(), error: res.status === 200 ? undefined : res.text.slice(0, 300) });
      return res.status === 200 ? (res.body.data as Record<string, unknown>) : undefined;
    } catch (error) {
      // The process died under the request: not acknowledged.
      this.attempts.push({ kind, status: -1, at: Date.now(), error: String((error as Error).cause ?? error) });
      return undefined;
    }
  }

  async #insertToDo(url: string, client: number, tag: string): Promise<void> {
    const status = pick(STATUSES);
    const data = await this.#send('insert ToDo', url, '/api/resource/ToDo', 'POST', { description: tag, status, priority: 'Low' });
    if (!data) return void this.unackedInserts.push({ doctype: 'ToDo', tag });
    const name = String(data.name);
    this.tracked.set(`ToDo:${name}`, { doctype: 'ToDo', name, client, versions: [{ tag, status, acked: true, modified: String(data.modified) }] });
  }

  async #insertLoan(url: string, client: number, tag: string): Promise<void> {
    const items = 1 + Math.floor(Math.random() * 4);
    const data = await this.#send('insert Loan', url, '/api/resource/Loan', 'POST', { member: this.member, loan_date: '2025-05-01', remarks: tag, items: loanItems(tag, items) });
    if (!data) return void this.unackedInserts.push({ doctype: 'Loan', tag });
    const name = String(data.name);
    this.ackedLoanNames.push(name);
    this.tracked.set(`Loan:${name}`, { doctype: 'Loan', name, client, versions: [{ tag, items, acked: true, modified: String(data.modified) }] });
  }

  async #update(url: string, target: Tracked, tag: string): Promise<void> {
    const path = `/api/resource/${target.doctype}/${encodeURIComponent(target.name)}`;
    const version: Version = { tag, acked: false };
    target.versions.push(version);
    let data: Record<string, unknown> | undefined;
    if (target.doctype === 'ToDo') {
      version.status = pick(STATUSES);
      data = await this.#send('update ToDo', url, path, 'PUT', { description: tag, status: version.status });
    } else {
      version.items = 1 + Math.floor(Math.random() * 4);
      data = await this.#send('update Loan', url, path, 'PUT', { remarks: tag, items: loanItems(tag, version.items) });
    }
    if (data) {
      version.acked = true;
      version.modified = String(data.modified);
    } else {
      this.unackedUpdates.push({ doc: target, index: target.versions.length - 1 });
    }
  }
}

interface Check {
  acked: number;
  lost: string[];
  halfWritten: string[];
  inFlightCommitted: number;
  inFlightRolledBack: number;
  seriesCurrent: number;
  highestLoan: number;
}

/** Reads the tables directly and checks every acknowledged write against them. */
async function checkStored(path: string, load: WriteLoad): Promise<Check> {
  const site = await openServingSite(path, { logger: createLogger({ quiet: true }) });
  try {
    const todos = new Map(
      (await site.storage.all<{ name: string; description: string; status: string; modified: string }>('SELECT "name", "description", "status", "modified" FROM "tabToDo"')).map((r) => [r.name, r]),
    );
    const loans = new Map((await site.storage.all<{ name: string; remarks: string; modified: string }>('SELECT "name", "remarks", "modified" FROM "tabLoan"')).map((r) => [r.name, r]));
    const items = new Map<string, { idx: number; quantity: number; note: string }[]>();
    const orphans: string[] = [];
    for (const row of await site.storage.all<{ parent: string; idx: number; quantity: number; note: string }>(
      'SELECT "parent", "idx", "quantity", "note" FROM "tabLoan Item" WHERE "parenttype" = ? ORDER BY "parent", "idx"',
      ['Loan'],
    )) {
      if (!loans.has(row.parent)) orphans.push(`item ${row.note} of missing Loan ${row.parent}`);
      items.set(row.parent, [...(items.get(row.parent) ?? []), row]);
    }
    const lost: string[] = [];
    const halfWritten = [...orphans];
    let acked = 0;
    let inFlightCommitted = 0;
    let inFlightRolledBack = 0;

    // Every Loan (acknowledged or not): its items are the rows of the write its remarks name.
    for (const [name, loan] of loans) {
      const rows = items.get(name) ?? [];
      const expected = rows.map((_, i) => `${loan.remarks}/${i + 1}`);
      if (rows.length === 0 || rows.some((row, i) => row.note !== expected[i] || Number(row.quantity) !== i + 1 || Number(row.idx) !== i + 1)) {
        halfWritten.push(`Loan ${name} (remarks ${loan.remarks}) has items ${JSON.stringify(rows.map((r) => r.note))}`);
      }
    }

    for (const doc of load.tracked.values()) {
      const stored = doc.doctype === 'ToDo' ? todos.get(doc.name) : loans.get(doc.name);
      const lastAcked = doc.versions.findLastIndex((v) => v.acked);
      acked += doc.versions.filter((v) => v.acked).length;
      if (!stored) {
        lost.push(`${doc.doctype} ${doc.name}: acknowledged insert missing`);
        continue;
      }
      const tag = 'description' in stored ? stored.description : stored.remarks;
      const index = doc.versions.findIndex((v) => v.tag === tag);
      if (index < lastAcked) {
        lost.push(`${doc.doctype} ${doc.name}: holds ${index < 0 ? `unknown value ${tag}` : `write #${index}`}, the last acknowledged is #${lastAcked}`);
        continue;
      }
      const version = doc.versions[index] as Version;
      if (index === lastAcked && stored.modified !== version.modified) lost.push(`${doc.doctype} ${doc.name}: modified ${stored.modified}, acknowledged ${version.modified}`);
      if (doc.doctype === 'ToDo' && 'status' in stored && stored.status !== version.status) lost.push(`ToDo ${doc.name}: status ${stored.status}, sent ${version.status}`);
      if (doc.doctype === 'Loan' && (items.get(doc.name) ?? []).length !== version.items) {
        halfWritten.push(`Loan ${doc.name}: ${(items.get(doc.name) ?? []).length} items, write #${index} sent ${version.items}`);
      }
    }
    // The writes in flight at the kill (sent, never answered): committed or not, both are fine.
    for (const { doc, index } of load.unackedUpdates) {
      const stored = doc.doctype === 'ToDo' ? todos.get(doc.name)?.description : loans.get(doc.name)?.remarks;
      if (stored === doc.versions[index]?.tag) inFlightCommitted++;
      else inFlightRolledBack++;
    }
    const storedTags = new Set([...[...todos.values()].map((t) => t.description), ...[...loans.values()].map((l) => l.remarks)]);
    for (const insert of load.unackedInserts) {
      if (storedTags.has(insert.tag)) inFlightCommitted++;
      else inFlightRolledBack++;
    }

    const numbers = [...loans.keys()].map((name) => Number(/-(\d+)$/.exec(name)?.[1] ?? NaN));
    assert.ok(numbers.every(Number.isInteger), `Loan names follow the series: ${[...loans.keys()].slice(0, 5).join(', ')}`);
    const series = await site.storage.all<{ name: string; current: number }>('SELECT "name", "current" FROM "tabSeries" WHERE "name" LIKE ?', ['LOAN-%']);
    return {
      acked,
      lost,
      halfWritten,
      inFlightCommitted,
      inFlightRolledBack,
      seriesCurrent: Math.max(0, ...series.map((s) => Number(s.current))),
      highestLoan: Math.max(0, ...numbers),
    };
  } finally {
    await site.close();
  }
}

forEachDatabase('crash safety: SIGKILL under a write load loses no acknowledged write', (db) => {
  test(`${KILLS} kills at random moments; after each restart every acknowledged write is stored whole`, async () => {
    const t = await createTestSite({ db, apps: [LIBRARY_APP] });
    sites.push(t);
    await addUser(t.site, { email: CLERK, roles: ['System Manager'] });
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, CLERK, apiSecretHashKey(t.site.config.encryption_key)));
    const key = await t.site.storage.get<{ api_key: string }>('SELECT "api_key" FROM "tabUser" WHERE "name" = ?', [CLERK]);
    const member = await runAs(t.site, CLERK, async (dbApi) => {
      await dbApi.insert({ doctype: 'Article', article_name: 'Dune' });
      return String((await dbApi.insert({ doctype: 'Library Member', first_name: 'Ada' })).name);
    });
    await t.site.close();

    const load = new WriteLoad(db, `token ${String(key?.api_key)}:${keys.api_secret}`, member);
    const extra = ['--workers', '1'];
    let server = await ServeProcess.startOnFreePort(t.path, extra);
    const started = Date.now();
    let kills = 0;
    let inFlightCommitted = 0;
    let inFlightRolledBack = 0;
    let check: Check | undefined;
    /** Loans inserted after each restart. */
    const probes: string[] = [];
    try {
      for (let round = 1; round <= KILLS; round++) {
        load.start(server.url, round);
        // The load is under way (a busy machine may be slow to answer the first write)…
        const loadStarted = Date.now();
        while (!load.attempts.some((a) => a.status === 200)) {
          assert.ok(Date.now() - loadStarted < 30_000, `no write acknowledged within 30 s: ${JSON.stringify(load.attempts.slice(0, 3))}\n${server.output}`);
          await sleep(20);
        }
        // …and the kill comes at a random moment of it.
        const killAfter = KILL_AFTER_MS[0] + Math.random() * (KILL_AFTER_MS[1] - KILL_AFTER_MS[0]);
        await sleep(killAfter);
        const killedAt = Date.now();
        server.child.kill('SIGKILL');
        load.halt();
        const [, signal] = await server.closed;
        assert.equal(signal, 'SIGKILL');
        kills++;
        await load.stop();

        // Before the kill every write succeeded; after it, only connection failures.
        const refused = load.attempts.filter((a) => a.status !== 200 && (a.status !== -1 || a.at < killedAt));
        assert.deepEqual(refused, [], `writes failed under load before kill ${round}`);
        const roundAcked = load.attempts.filter((a) => a.status === 200).length;
        assert.ok(roundAcked >= 1, `writes were acknowledged before kill ${round}\n${server.output}`);

        server = await ServeProcess.startOnFreePort(t.path, extra);
        // The server answers normally, and the series continues past every stored Loan.
        assert.equal((await call(server.url, '/api/method/ping')).status, 200);
        const ready = await call(server.url, '/readyz');
        assert.equal(ready.status, 200, ready.text);
        check = await checkStored(t.path, load);
        assert.deepEqual(check.lost, [], `acknowledged writes lost after kill ${round}`);
        assert.deepEqual(check.halfWritten, [], `half-written documents after kill ${round}`);
        assert.ok(check.seriesCurrent >= check.highestLoan, `series counter ${check.seriesCurrent} is behind the stored LOAN-…-${check.highestLoan}`);
        const probe = await call(server.url, '/api/resource/Loan', {
          auth: load.auth,
          json: { member, remarks: `probe-${db}-${round}`, items: loanItems(`probe-${db}-${round}`, 1) },
        });
        assert.equal(probe.status, 200, probe.text);
        const probeName = String((probe.body.data as { name: string }).name);
        assert.ok(Number(/-(\d+)$/.exec(probeName)?.[1]) > check.highestLoan, `new Loan ${probeName} after LOAN-…-${check.highestLoan}`);
        assert.ok(!load.ackedLoanNames.includes(probeName) && !probes.includes(probeName), `${probeName} was handed out before`);
        probes.push(probeName);
        inFlightCommitted += check.inFlightCommitted;
        inFlightRolledBack += check.inFlightRolledBack;
        load.unackedInserts.length = 0;
        load.unackedUpdates.length = 0;
      }
      const names = [...load.ackedLoanNames, ...probes];
      assert.equal(new Set(names).size, names.length, 'no Loan name was acknowledged twice');
      const code = await server.stop('SIGTERM');
      assert.equal(code, 0, server.output);
    } finally {
      await server.stop('SIGKILL');
    }
    const inserts = [...load.tracked.values()].length;
    console.log(
      `crash safety [${db}]: ${kills} SIGKILLs in ${Math.round((Date.now() - started) / 1000)} s, writes acknowledged: ${check?.acked ?? 0} ` +
        `(${inserts} inserts: ${load.ackedLoanNames.length} Loans with items, ${inserts - load.ackedLoanNames.length} ToDos; ${(check?.acked ?? 0) - inserts} updates), ` +
        `lost: ${check?.lost.length ?? '?'}, half-written: ${check?.halfWritten.length ?? '?'}, names reused: 0; ` +
        `writes unanswered at the kills: ${inFlightCommitted + inFlightRolledBack} (${inFlightCommitted} committed, ${inFlightRolledBack} not)`,
    );
  });
});
