import { authServicesFor } from './auth-services.ts';
import type { Site } from './site.ts';

/** Ends every login session of the site (bench's destroy-all-sessions); returns how many. */
export async function destroyAllSessions(site: Site): Promise<number> {
  await site.migrate();
  const result = await site.storage.run('DELETE FROM "__Sessions"');
  return result.changes;
}

/** Rotates the OpenID Connect signing key; every node drops its cached key. */
export async function rotateSigningKey(site: Site): Promise<string> {
  const auth = authServicesFor(site);
  const kid = await auth.oauth.keys.rotate();
  auth.invalidate('signing-keys');
  return kid;
}
