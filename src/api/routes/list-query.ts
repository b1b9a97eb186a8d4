/**
 * A list query for the API with Frappe's `debug`: the SQL (and its parameters and time) are
 * collected for System Managers only; for anyone else `debug` is ignored.
 */
import type { DocumentContext, RequestDb } from '../../doctype/document/document-context.ts';
import { getList, type ListArgs, type ListResult } from '../../doctype/document/read-documents.ts';
import type { RequestState } from '../register-api.ts';

export interface ListOutcome {
  result: ListResult;
  /** The debug messages (empty unless `debug` was asked for by a System Manager). */
  debug: string[];
}

export function mayDebug(state: RequestState): boolean {
  return state.principal.roles.has('System Manager') || state.principal.roles.has('Administrator');
}

/** Wraps the request's database so the SELECTs the list runs are recorded. */
function recording(db: RequestDb, log: string[]): RequestDb {
  const record = async <T>(sql: string, params: readonly unknown[] | undefined, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await run();
    log.push(sql, `Parameters: ${JSON.stringify(params ?? [])}`, `Execution time: ${((performance.now() - started) / 1000).toFixed(4)} sec`);
    return result;
  };
  return {
    dialect: db.dialect,
    begin: () => db.begin(),
    all: (sql, params) => record(sql, params, () => db.all(sql, params)),
    get: (sql, params) => record(sql, params, () => db.get(sql, params)),
    run: (sql, params) => db.run(sql, params),
  };
}

export async function listQuery(state: RequestState, doctype: string, args: ListArgs, debug: boolean): Promise<ListOutcome> {
  const log: string[] = [];
  const base = state.documents();
  const ctx: DocumentContext = debug && mayDebug(state) ? { ...base, db: recording(base.db, log) } : base;
  const result = await getList(doctype, args, ctx);
  return { result, debug: log };
}
