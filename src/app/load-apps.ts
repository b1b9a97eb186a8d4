/**
 * Finds and loads installed apps: a folder (its package.json entry, or index/app .ts/.mjs/.js)
 * or an installed package name. An app that cannot load stops the start with a clear line.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadDocTypeFolder, normalizeDocType } from '../doctype/meta/load-meta.ts';
import type { DocTypeMeta } from '../doctype/meta/types.ts';
import type { AppDefinition } from './app-definition.ts';

export class AppLoadError extends Error {
  override name = 'AppLoadError';
}

export interface LoadedApp {
  readonly name: string;
  /** Where it was installed from, as written in site_config.json. */
  readonly source: string;
  readonly entry: string;
  readonly definition: AppDefinition;
  readonly doctypes: DocTypeMeta[];
}

const ENTRY_NAMES = ['index.ts', 'index.mjs', 'index.js', 'app.ts', 'app.mjs', 'app.js'];
const APP_NAME = /^[a-z][a-z0-9_]*$/;

function entryOfFolder(folder: string): string | undefined {
  const pkgPath = join(folder, 'package.json');
  if (existsSync(pkgPath)) {
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { main?: string; exports?: unknown };
    const exported = typeof pkg.exports === 'string' ? pkg.exports : (pkg.exports as { '.'?: unknown } | undefined)?.['.'];
    const main = typeof exported === 'string' ? exported : pkg.main;
    if (main && existsSync(join(folder, main))) return join(folder, main);
  }
  return ENTRY_NAMES.map((name) => join(folder, name)).find((path) => existsSync(path));
}

/** Resolves an app source (path or package name) to its entry file. */
export function resolveAppEntry(source: string, baseDir: string): string {
  const looksLikePath = source.startsWith('.') || source.startsWith('/') || isAbsolute(source);
  if (looksLikePath) {
    const path = resolve(baseDir, source);
    if (!existsSync(path)) throw new AppLoadError(`app "${source}": ${path} does not exist`);
    const entry = statSync(path).isDirectory() ? entryOfFolder(path) : path;
    if (!entry) throw new AppLoadError(`app "${source}": no entry in ${path} (package.json main, or ${ENTRY_NAMES.join(', ')})`);
    return entry;
  }
  try {
    return createRequire(join(baseDir, 'noop.js')).resolve(source);
  } catch {
    throw new AppLoadError(`app "${source}": no such package installed (npm install it, or give a path)`);
  }
}

function validateDefinition(value: unknown, source: string): AppDefinition {
  if (typeof value !== 'object' || value === null) throw new AppLoadError(`app "${source}": its entry must default-export an app object`);
  const app = value as Partial<AppDefinition>;
  if (typeof app.name !== 'string' || !APP_NAME.test(app.name)) {
    throw new AppLoadError(`app "${source}": "name" must be a snake_case identifier, got ${JSON.stringify(app.name)}`);
  }
  if (app.doctypes !== undefined && typeof app.doctypes !== 'string' && !Array.isArray(app.doctypes)) {
    throw new AppLoadError(`app "${app.name}": "doctypes" must be a list of doctype JSON objects or a folder path`);
  }
  if (app.methods !== undefined && (typeof app.methods !== 'object' || app.methods === null)) {
    throw new AppLoadError(`app "${app.name}": "methods" must be an object of method definitions`);
  }
  if (app.doc_methods !== undefined && (typeof app.doc_methods !== 'object' || app.doc_methods === null)) {
    throw new AppLoadError(`app "${app.name}": "doc_methods" must be an object of DocType → method definitions`);
  }
  if (app.hooks !== undefined && (typeof app.hooks !== 'object' || app.hooks === null)) {
    throw new AppLoadError(`app "${app.name}": "hooks" must be an object`);
  }
  return app as AppDefinition;
}

export async function loadApp(source: string, baseDir: string): Promise<LoadedApp> {
  const entry = resolveAppEntry(source, baseDir);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(entry).href)) as { default?: unknown };
  } catch (error) {
    throw new AppLoadError(`app "${source}": cannot load ${entry}: ${(error as Error).message}`);
  }
  // An ES module loaded through Node's CommonJS path arrives wrapped once more.
  let exported = module.default;
  if (exported && typeof exported === 'object' && !('name' in exported) && 'default' in exported) {
    exported = (exported as { default: unknown }).default;
  }
  const definition = validateDefinition(exported, source);
  let doctypes: DocTypeMeta[];
  try {
    if (typeof definition.doctypes === 'string') {
      const folder = resolve(dirname(entry), definition.doctypes);
      if (!existsSync(folder)) throw new Error(`doctypes folder ${folder} does not exist`);
      doctypes = loadDocTypeFolder(folder, definition.name);
    } else {
      doctypes = (definition.doctypes ?? []).map((raw) => normalizeDocType(raw, definition.name));
    }
  } catch (error) {
    throw new AppLoadError(`app "${definition.name}": ${(error as Error).message}`);
  }
  return { name: definition.name, source, entry, definition, doctypes };
}

export async function loadApps(sources: readonly string[], baseDir: string): Promise<LoadedApp[]> {
  const apps: LoadedApp[] = [];
  for (const source of sources) {
    const app = await loadApp(source, baseDir);
    if (apps.some((a) => a.name === app.name)) throw new AppLoadError(`app "${app.name}" is installed twice`);
    apps.push(app);
  }
  return apps;
}
