/**
 * Which committed writes make cached credentials stale, read from the SQL itself so that every
 * path is covered — document saves, cortado's own raw SQL, apps' and tests' raw SQL. A write to
 * a table credentials are built from yields the changes to drop (credential-cache.ts), targeted
 * when the statement names its rows by one column (`WHERE "name" = ?` …, no OR), else `*`.
 *
 * Not changes: inserts (a new row cannot make a cached credential stale, except a role given
 * to a user), and bookkeeping updates that set only columns no credential depends on
 * (`last_login`, `last_used_at`, …) or the session store's own `last_active` flush.
 */
import type { SqlValue } from '../storage/types.ts';
import type { CredentialChange } from './credential-cache.ts';
import { SESSION_TOUCH_SQL } from './sessions/session-store.ts';

interface TableRule {
  /** Columns whose `= ?` in a WHERE names the rows changed, and the change each gives. */
  readonly targets: readonly (readonly [column: string, toChanges: (value: string) => CredentialChange[]])[];
  /** For UPDATE: the columns that matter; an update setting none of them is bookkeeping. */
  readonly columns?: ReadonlySet<string>;
  /** What an untargeted change drops. */
  readonly all: CredentialChange;
  /** Inserts matter (a role given to a user). */
  readonly inserts?: boolean;
}

const user = (value: string) => [`u:${value}`];

const RULES: Record<string, TableRule> = {
  tabUser: {
    targets: [['name', user]],
    columns: new Set(['name', 'enabled', 'user_type', 'restrict_ip', 'bypass_restrict_ip_check_if_2fa_enabled', 'api_key']),
    all: '*',
  },
  'tabHas Role': { targets: [['parent', user]], all: '*', inserts: true },
  // Hashed secrets of users (`name` = the user) and of named keys (`name` = the key).
  __Auth: { targets: [['name', (value) => [`u:${value}`, `k:${value}`]]], all: '*' },
  'tabAPI Key': {
    targets: [['name', (value) => [`k:${value}`]], ['user', user]],
    columns: new Set(['name', 'user', 'enabled', 'expires_on', 'restrict_ip', 'scopes', 'previous_secret_expires_at', 'api_key']),
    all: '*',
  },
  __Sessions: { targets: [['sid_hash', (value) => [`s:${value}`]], ['user', user]], all: 'S*' },
  'tabOAuth Bearer Token': {
    targets: [['name', (value) => [`t:${value}`]], ['grant_family', (value) => [`f:${value}`]], ['user', user]],
    columns: new Set(['name', 'status', 'expiration_time', 'user', 'scopes', 'client', 'access_token', 'grant_family']),
    all: '*',
  },
  'tabOAuth Client': { targets: [], all: '*' },
};

const MENTIONS = Object.keys(RULES).map((table) => `"${table}"`);
const HEAD = /^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"([^"]+)"/i;

/** Turns one committed statement's parameters into the changes it makes. */
export type ChangeClassifier = (params: readonly SqlValue[]) => CredentialChange[];

function placeholdersBefore(sql: string, end: number): number {
  let count = 0;
  for (let i = 0; i < end; i++) if (sql.charCodeAt(i) === 63 /* ? */) count += 1;
  return count;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The columns an UPDATE sets, or undefined when the SET clause cannot be read. */
function setColumns(sql: string): string[] | undefined {
  const match = /\bSET\b([\s\S]*?)(?:\bWHERE\b|$)/i.exec(sql);
  if (!match?.[1]) return undefined;
  const columns: string[] = [];
  for (const part of match[1].split(',')) {
    const column = /^\s*"([^"]+)"\s*=/.exec(part)?.[1];
    if (column === undefined) return undefined;
    columns.push(column);
  }
  return columns;
}

/**
 * undefined when the statement never makes a cached credential stale; else what it changes,
 * from its parameters. Decided once per SQL text (the storage remembers the answer).
 */
export function classifyCredentialWrite(sql: string): ChangeClassifier | undefined {
  if (sql === SESSION_TOUCH_SQL || (/^\s*SELECT\b/i.test(sql) && !/\bRETURNING\b/i.test(sql))) return undefined;
  const head = HEAD.exec(sql);
  if (!head) {
    // Some other shape (WITH …, ALTER …, a trigger): safe when it names a table we watch.
    const named = MENTIONS.filter((table) => sql.includes(table));
    if (named.length === 0) return undefined;
    const changes = named.map((table) => RULES[table.slice(1, -1)]?.all ?? '*');
    return () => changes;
  }
  const verb = (head[1] ?? '').toUpperCase();
  const table = head[2] ?? '';
  const rule = RULES[table];
  if (!rule) return undefined;
  if (verb.startsWith('INSERT')) {
    // An upsert changes rows; a plain insert only adds one (which matters for roles only).
    const upsert = /\bON\s+CONFLICT\b|\bOR\s+REPLACE\b/i.test(sql);
    if (!upsert && !rule.inserts) return undefined;
    const parent = rule.inserts && !upsert ? insertedColumn(sql, rule.targets[0]?.[0]) : undefined;
    if (parent && rule.targets[0]) {
      const toChanges = rule.targets[0][1];
      return (params) => {
        const changes: CredentialChange[] = [];
        for (let i = parent.index; i < params.length; i += parent.width) changes.push(...toChanges(String(params[i])));
        return changes;
      };
    }
    return () => [rule.all];
  }
  if (verb === 'UPDATE' && rule.columns) {
    const columns = setColumns(sql);
    if (columns && !columns.some((c) => rule.columns?.has(c))) return undefined;
  }
  const whereAt = sql.search(/\bWHERE\b/i);
  const where = whereAt === -1 ? '' : sql.slice(whereAt);
  // Rows named by one column are a subset of what a change on that value drops; an OR (or a
  // subquery) could reach other rows.
  if (whereAt !== -1 && !/\bOR\b|\bSELECT\b/i.test(where)) {
    for (const [column, toChanges] of rule.targets) {
      const at = new RegExp(`"${escapeRegExp(column)}"\\s*=\\s*\\?`).exec(where);
      if (!at) continue;
      const index = placeholdersBefore(sql, whereAt + at.index + at[0].length - 1);
      return (params) => (index < params.length ? toChanges(String(params[index])) : [rule.all]);
    }
  }
  return () => [rule.all];
}

/** Where a column's value sits in a plain `INSERT … (columns) VALUES (?, …), (?, …)`. */
function insertedColumn(sql: string, column: string | undefined): { index: number; width: number } | undefined {
  if (!column) return undefined;
  const match = /\(([^)]*)\)\s*VALUES\s*\(([^)]*)\)/i.exec(sql);
  if (!match?.[1] || !match[2]) return undefined;
  const columns = match[1].split(',').map((c) => c.trim().replace(/^"|"$/g, ''));
  const values = match[2].split(',').map((v) => v.trim());
  // Every value a placeholder, so parameter i is column i.
  if (values.length !== columns.length || values.some((v) => v !== '?')) return undefined;
  const index = columns.indexOf(column);
  return index === -1 ? undefined : { index, width: columns.length };
}
