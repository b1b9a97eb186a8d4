/** User administration for the CLI: add users, set passwords. */
import { frappeError } from '../core/errors.ts';
import { setUserPassword } from '../doctype/document/password-fields.ts';
import { insertDoc } from '../doctype/document/write-documents.ts';
import { ADMINISTRATOR } from '../doctype/principal.ts';
import type { Site } from './site.ts';

export interface NewUser {
  email: string;
  firstName?: string;
  lastName?: string;
  password?: string;
  userType?: 'System User' | 'Website User';
  roles?: string[];
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export async function addUser(site: Site, user: NewUser): Promise<string> {
  if (!EMAIL.test(user.email)) throw frappeError('InvalidEmailAddressError', `${user.email} is not a valid email address`);
  if (user.password !== undefined && user.password.length === 0) throw frappeError('ValidationError', 'the password must not be empty');
  return site.asAdministrator(async (ctx) => {
    for (const role of user.roles ?? []) {
      if (!(await ctx.db.get('SELECT "name" FROM "tabRole" WHERE "name" = ?', [role]))) {
        throw frappeError('LinkValidationError', `Could not find Role: ${role}`);
      }
    }
    const doc = await insertDoc(
      'User',
      {
        email: user.email,
        first_name: user.firstName ?? user.email.split('@')[0],
        last_name: user.lastName,
        user_type: user.userType ?? 'System User',
        roles: (user.roles ?? []).map((role) => ({ role })),
      },
      ctx,
      { name: user.email },
    );
    if (user.password !== undefined) await setUserPassword(ctx.db, String(doc.name), user.password);
    return String(doc.name);
  });
}

export async function setPassword(site: Site, user: string, password: string): Promise<void> {
  if (password.length === 0) throw frappeError('ValidationError', 'the password must not be empty');
  await site.asAdministrator(async (ctx) => {
    if (!(await ctx.db.get('SELECT "name" FROM "tabUser" WHERE "name" = ?', [user]))) {
      throw frappeError('DoesNotExistError', `User ${user} not found`);
    }
    await setUserPassword(ctx.db, user, password);
    // A changed password ends the user's sessions.
    await ctx.db.run('DELETE FROM "__Sessions" WHERE "user" = ?', [user]);
  });
}

export const setAdminPassword = (site: Site, password: string) => setPassword(site, ADMINISTRATOR, password);
