import { resolve } from 'node:path';
import type { Command } from 'commander';
import { openServingSite } from '../app/create-server.ts';
import type { Site } from '../app/site.ts';

export function sitePath(program: Command): string {
  return resolve(program.opts<{ site: string }>().site);
}

/** Opens the `--site` site for one verb and always closes it. */
export async function withSite<T>(program: Command, fn: (site: Site) => Promise<T>): Promise<T> {
  const site = await openServingSite(sitePath(program));
  try {
    return await fn(site);
  } finally {
    await site.close();
  }
}
