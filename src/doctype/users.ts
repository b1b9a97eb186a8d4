/** Users as the rest of the system sees them: a principal with roles, or nobody. */
import type { SqlExecutor } from '../storage/types.ts';
import { GUEST, GUEST_PRINCIPAL, principalFor, type Principal } from './principal.ts';

export interface UserRecord {
  name: string;
  enabled: boolean;
  userType: Principal['userType'];
  fullName: string;
}

export async function findUser(db: SqlExecutor, user: string): Promise<UserRecord | undefined> {
  const row = await db.get<{ name: string; enabled: number | string; user_type: string | null; full_name: string | null }>(
    'SELECT "name", "enabled", "user_type", "full_name" FROM "tabUser" WHERE "name" = ?',
    [user],
  );
  if (!row) return undefined;
  return {
    name: row.name,
    enabled: Number(row.enabled) === 1,
    userType: row.user_type === 'Website User' ? 'Website User' : 'System User',
    fullName: row.full_name ?? row.name,
  };
}

export async function rolesOf(db: SqlExecutor, user: string): Promise<string[]> {
  const rows = await db.all<{ role: string }>(
    'SELECT "role" FROM "tabHas Role" WHERE "parent" = ? AND "parenttype" = \'User\' AND "parentfield" = \'roles\'',
    [user],
  );
  return rows.map((r) => r.role);
}

/** The principal of an enabled user, or undefined when the user is missing or disabled. */
export async function loadPrincipal(db: SqlExecutor, user: string): Promise<Principal | undefined> {
  if (user === GUEST) return GUEST_PRINCIPAL;
  const record = await findUser(db, user);
  if (!record || !record.enabled) return undefined;
  return principalFor(record.name, await rolesOf(db, user), record.userType);
}
