import type { Site } from './site.ts';

/** Ends every login session of the site (bench's destroy-all-sessions); returns how many. */
export async function destroyAllSessions(site: Site): Promise<number> {
  await site.migrate();
  const result = await site.storage.run('DELETE FROM "__Sessions"');
  return result.changes;
}
