/**
 * What counts as secret material in test output: the fixed passwords tests use (the registry
 * below, plus every literal password found in the test sources, so a new test's password is
 * covered without editing this file) and patterns only a leaked credential produces. Used by the
 * full-run log scan (test/helpers/scan-test-logs.ts, run by scripts/run-tests.mjs) and by
 * test/security/secrets-hygiene.test.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Passwords tests use, registered by hand: `ADMIN_PASSWORD` of test/helpers/test-site.ts (kept
 * equal by test/security/secrets-hygiene.test.ts; not imported, so the log scan starts fast).
 */
export const FIXED_SECRETS: readonly string[] = ['admin-password-for-tests'];

const LITERAL_PASSWORD = /\b\w*(?:password|passwd|pwd)\w*['"]?\s*[:=]\s*(['"])([^'"\n]{10,})\1/gi;

function literalsIn(text: string, into: Set<string>): void {
  for (const match of text.matchAll(LITERAL_PASSWORD)) {
    const value = match[2] as string;
    // Masks and deliberately wrong attempts are not secrets.
    if (!/^\*+$/.test(value) && !/^wrong\b/i.test(value)) into.add(value);
  }
}

/**
 * Literal passwords in the test sources (test/ and src/**\/*.test.ts): string literals of 10+
 * characters assigned to a name or key that says password/pwd (`password: '…'`,
 * `const PASSWORD = '…'`, `pwd: '…'`), so a new test's password is covered without editing
 * this file.
 */
export function literalTestPasswords(root = ROOT): string[] {
  const found = new Set<string>(FIXED_SECRETS);
  const walk = (dir: string, only?: RegExp) => {
    for (const entry of readdirSync(dir)) {
      if (entry === 'node_modules' || entry.startsWith('.')) continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path, only);
      else if (/\.(ts|mts|mjs|js)$/.test(entry) && (!only || only.test(entry))) literalsIn(readFileSync(path, 'utf8'), found);
    }
  };
  walk(join(root, 'test'));
  walk(join(root, 'src'), /\.test\.ts$/);
  return [...found];
}

export interface LeakPattern {
  name: string;
  pattern: RegExp;
  /** Extra check on a match (e.g. a Basic credential must decode to `key:secret`). */
  confirm?(match: RegExpMatchArray): boolean;
}

/** `\"` in a JSON-encoded log line, or `"` in plain text. */
const Q = '\\\\?["\']';

/**
 * Shapes only a leaked credential takes. Each names what leaked, never matching the redacted
 * forms cortado writes (`********`, a key id alone, `Guest`).
 */
export const LEAK_PATTERNS: readonly LeakPattern[] = [
  { name: 'token key:secret', pattern: /\btoken [A-Za-z0-9_-]{6,}:[A-Za-z0-9_+/=-]{6,}/g },
  {
    name: 'Basic credential',
    pattern: /\bBasic ([A-Za-z0-9+/]{8,}={0,2})/g,
    confirm: (match) => Buffer.from(match[1] ?? '', 'base64').toString('utf8').includes(':'),
  },
  { name: 'Bearer token', pattern: /\bBearer (?!error=)[A-Za-z0-9._~+/-]{16,}/g },
  { name: 'sid value', pattern: /\bsid=(?!Guest\b)[A-Za-z0-9_-]{16,}/g },
  { name: 'pwd value', pattern: new RegExp(`${Q}(?:pwd|password|new_password|old_password)${Q}\\s*:\\s*${Q}(?!\\*+\\\\?["'])[^"'\\\\]+`, 'g') },
  { name: 'pwd form value', pattern: /\b(?:pwd|new_password|old_password)=[^&\s"'\\]{4,}/g },
  {
    name: 'API/client secret value',
    pattern: new RegExp(`\\b(?:api_secret|client_secret|access_token|refresh_token|code_verifier|csrf_token)${Q}?\\s*[:=]\\s*${Q}?(?!\\*+)[A-Za-z0-9_~.+/-]{12,}`, 'g'),
  },
];

export interface Leak {
  what: string;
  /** The match, shortened so a report never prints a whole secret. */
  excerpt: string;
}

/** Shortens a secret for a report: its first 4 characters and its length. */
export function redact(text: string): string {
  return `${text.slice(0, 4)}… (${text.length} chars)`;
}

/** Every leak in `text`: a known secret, or a leak pattern. */
export function findLeaks(text: string, knownSecrets: Iterable<string>): Leak[] {
  const leaks: Leak[] = [];
  for (const secret of knownSecrets) {
    if (secret && text.includes(secret)) leaks.push({ what: 'a known test password or secret', excerpt: redact(secret) });
  }
  for (const { name, pattern, confirm } of LEAK_PATTERNS) {
    for (const match of text.matchAll(pattern)) {
      if (confirm && !confirm(match)) continue;
      leaks.push({ what: name, excerpt: redact(match[0]) });
    }
  }
  return leaks;
}
