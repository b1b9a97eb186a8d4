/**
 * Secrets are compared in constant time, in one place. A scan of `src/**\/*.ts` (tests
 * excluded) asserts that:
 *
 * 1. `timingSafeEqual` is used only in `src/core/crypto.ts`, whose `constantEquals` /
 *    `constantEqualBytes` every other file calls;
 * 2. no code compares a secret-like value (an operand naming a secret, password, token,
 *    api_secret, code_verifier, csrf, pwd, sid, otp or PKCE challenge) with `===`, `!==`, `==`
 *    or `!=` against another non-literal value, nor with `startsWith`/`endsWith`/`includes`/
 *    `indexOf` (all of which stop at the first differing character). Comparisons with literals
 *    (`=== undefined`, `=== 'token'`), `typeof` checks and lengths are not secret comparisons.
 *
 * The scanner strips comments and string contents, then reads the operand on each side of an
 * operator as a JavaScript primary expression (names, `.`/`?.` members, balanced `()`/`[]`).
 * The few legitimate hits are allow-listed below, each with its reason; an allow-list entry that
 * no longer matches anything fails the test, so the list cannot rot.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');
const HELPER = 'src/core/crypto.ts';

/** Words that make an operand secret-like (matched against each identifier of the operand). */
const SECRET_WORD = /secret|passw(or)?d|pwd|token|csrf|verifier|code_challenge|^sid$|^otp$|_sid$|Sid$/i;
/** Identifiers that contain a secret word but hold no secret (kinds, names, counters, maps). */
const NOT_SECRET = /^(token_?type|tokens|token_?endpoint\w*|grant_?type|tmp_?id|\w*_?(kind|type|method|name|names|field|fieldname|fields|count|length|size|hint|status|column|expir\w*|at|url|uri))$/i;

interface Allowed {
  file: string;
  /** The comparison's text as the scanner reports it (`left op right`). */
  comparison: string;
  reason: string;
}

/** Legitimate comparisons of secret-named values, each with why it leaks nothing. */
const ALLOWED: readonly Allowed[] = [
  {
    file: 'src/api/routes/login-page-routes.ts',
    comparison: 'state.args.new_password !== state.args.confirm_password',
    reason: 'two fields of the same form, both typed by the requester: nothing stored is compared',
  },
  {
    file: 'src/auth/password-reset.ts',
    comparison: 'password.toLowerCase() === user.toLowerCase()',
    reason: 'the password policy refuses a new password equal to the user name; the requester knows both',
  },
];

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (entry.endsWith('.ts') && !entry.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/**
 * Comments removed and string/template contents replaced by `S` (quotes kept), so operators and
 * names inside text never count. Line breaks are kept for line numbers.
 */
export function stripCode(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      let body = '';
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\\') j++;
        else if (text[j] === '\n') body += '\n';
        j++;
      }
      out += `${c}S${body}${c}`;
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const IDENT = /[\w$]/;
const CLOSE: Record<string, string> = { ')': '(', ']': '[' };
const OPEN: Record<string, string> = { '(': ')', '[': ']' };

/** The primary expression ending at `end` (exclusive), scanning backwards. */
function operandBefore(code: string, end: number): string {
  let j = end;
  while (j > 0 && /[ \t]/.test(code[j - 1] as string)) j--;
  const stop = j;
  while (j > 0) {
    const c = code[j - 1] as string;
    if (IDENT.test(c) || c === '.') j--;
    else if (c === '?' && code[j] === '.') j--;
    else if (c === '!' && code[j] === '.') j--; // non-null assertion
    else if (CLOSE[c]) {
      let depth = 0;
      let k = j - 1;
      for (; k >= 0; k--) {
        if (code[k] === c) depth++;
        else if (code[k] === CLOSE[c] && --depth === 0) break;
      }
      if (k < 0) break;
      j = k;
    } else break;
  }
  return code.slice(j, stop);
}

/** The primary expression starting at `start`, scanning forwards. */
function operandAfter(code: string, start: number): string {
  let j = start;
  while (j < code.length && /[ \t]/.test(code[j] as string)) j++;
  const begin = j;
  while (j < code.length) {
    const c = code[j] as string;
    if (IDENT.test(c) || c === '.' || (c === '?' && code[j + 1] === '.') || c === "'" || c === '"' || c === '`') {
      if (c === "'" || c === '"' || c === '`') {
        const close = code.indexOf(c, j + 1);
        j = close === -1 ? code.length : close + 1;
      } else j++;
    } else if (OPEN[c]) {
      let depth = 0;
      let k = j;
      for (; k < code.length; k++) {
        if (code[k] === c) depth++;
        else if (code[k] === OPEN[c] && --depth === 0) break;
      }
      j = k + 1;
    } else break;
  }
  return code.slice(begin, j);
}

function isLiteral(operand: string): boolean {
  // Literals, and constants named in capitals (`GUEST`, `PASSWORD_MASK`).
  return /^(['"`]S?['"`]|-?\d[\d_.]*n?|null|undefined|true|false|\[\]|\{\}|[A-Z][A-Z0-9_]*)$/.test(operand) || operand === '';
}

/** Whether an operand names a secret: its last identifier (or a call's receiver) is secret-like. */
export function secretLike(operand: string): boolean {
  if (isLiteral(operand) || /\.(length|size)$/.test(operand)) return false;
  // Every name, call arguments included: `hash(pwd)` is as secret as `pwd`.
  const names = operand.match(/[A-Za-z_$][\w$]*/g) ?? [];
  return names.some((name) => SECRET_WORD.test(name) && !NOT_SECRET.test(name));
}

export interface Finding {
  file: string;
  line: number;
  comparison: string;
}

export function scanSource(file: string, text: string): Finding[] {
  const code = stripCode(text);
  const findings: Finding[] = [];
  const lineOf = (index: number) => code.slice(0, index).split('\n').length;
  for (const match of code.matchAll(/[!=]==?/g)) {
    const at = match.index;
    const op = match[0];
    // Skip `=>`, `<=`, `>=`, assignments inside `==` runs are handled by the regex itself.
    if (code[at - 1] === '=' || code[at - 1] === '!' || code[at - 1] === '<' || code[at - 1] === '>' || code[at + op.length] === '=') continue;
    if (op === '!=' && code[at + 2] === '=') continue;
    const left = operandBefore(code, at);
    const right = operandAfter(code, at + op.length);
    if (/\btypeof\s*$/.test(code.slice(Math.max(0, at - left.length - 10), at - left.length))) continue;
    if (isLiteral(left) || isLiteral(right) || /^typeof\b/.test(right)) continue;
    if (!secretLike(left) && !secretLike(right)) continue;
    findings.push({ file, line: lineOf(at), comparison: `${left} ${op} ${right}` });
  }
  for (const match of code.matchAll(/\.(startsWith|endsWith|includes|indexOf)\(/g)) {
    const at = match.index;
    const receiver = operandBefore(code, at);
    const argument = operandAfter(code, at + match[0].length - 1).slice(1, -1).trim();
    if (isLiteral(argument) || !/^[\w$.?[\]()!]+$/.test(argument)) continue;
    if (!secretLike(receiver) && !secretLike(argument)) continue;
    findings.push({ file, line: lineOf(at), comparison: `${receiver}.${match[1]}(${argument})` });
  }
  return findings;
}

test('the scanner finds what it must and leaves literals, typeof and lengths alone', () => {
  const found = (code: string) => scanSource('x.ts', code).map((f) => f.comparison);
  assert.deepEqual(found('if (given === session.csrf_token) ok();'), ['given === session.csrf_token']);
  assert.deepEqual(found('const ok = row.api_secret !== presented;'), ['row.api_secret !== presented']);
  assert.deepEqual(found('if (hash(pwd) == stored) x;'), ['hash(pwd) == stored']);
  assert.deepEqual(found('if (computed !== row.code_challenge) fail();'), ['computed !== row.code_challenge']);
  assert.deepEqual(found('return stored.startsWith(token);'), ['stored.startsWith(token)']);
  assert.deepEqual(found("if (sid === request.cookies?.sid) x;"), ['sid === request.cookies?.sid']);
  assert.deepEqual(found("if (typeof secret === 'string' && secret !== '' && password.length === 0 && token === undefined) x;"), []);
  assert.deepEqual(found("if (scheme === 'token' || kind === 'access' || a.token_type === b.token_type) x;"), []);
  assert.deepEqual(found("// token === other\nconst s = 'secret === other';"), []);
  assert.deepEqual(found('if (left.length === right.length) x;'), []);
});

test('timingSafeEqual is used only in the constant-time helper', () => {
  const offenders: string[] = [];
  let helperUses = 0;
  for (const path of sourceFiles(SRC)) {
    const file = relative(ROOT, path).split('\\').join('/');
    const code = stripCode(readFileSync(path, 'utf8'));
    if (!/\btimingSafeEqual\b/.test(code)) continue;
    if (file === HELPER) helperUses++;
    else offenders.push(file);
  }
  assert.deepEqual(offenders, [], 'use constantEquals / constantEqualBytes from src/core/crypto.ts');
  assert.equal(helperUses, 1, `${HELPER} holds the one timingSafeEqual`);
});

test('no secret-like value is compared with ===, !==, ==, != or a prefix/substring test (allow-list aside)', () => {
  const findings = sourceFiles(SRC).flatMap((path) => scanSource(relative(ROOT, path).split('\\').join('/'), readFileSync(path, 'utf8')));
  const used = new Set<Allowed>();
  const violations = findings.filter((f) => {
    const allowed = ALLOWED.find((a) => a.file === f.file && a.comparison === f.comparison);
    if (allowed) used.add(allowed);
    return !allowed;
  });
  assert.deepEqual(
    violations.map((v) => `${v.file}:${v.line}: ${v.comparison}`),
    [],
    'compare secrets with constantEquals (src/core/crypto.ts), or allow-list the comparison here with its reason',
  );
  const stale = ALLOWED.filter((a) => !used.has(a));
  assert.deepEqual(stale.map((a) => `${a.file}: ${a.comparison}`), [], 'allow-list entries that match nothing any more');
  for (const entry of ALLOWED) assert.ok(entry.reason.length > 20, `${entry.comparison}: a reason is required`);
});
