import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HASH_THREAD_NICE } from './password-hash-threads.ts';
import { hashPassword, verifyPassword } from './passwords.ts';

/** The nice value of each thread of this process, from /proc (Linux). */
function threadNiceValues(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name in parentheses; nice is the 19th field of the line.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

const linux = process.platform === 'linux';

describe('password hashing threads', () => {
  it('hash on a thread of lower priority than the event loop', { skip: linux ? false : 'per-thread nice values are read from /proc (Linux only)' }, async () => {
    const base = getPriority();
    assert.equal(threadNiceValues().includes(base + HASH_THREAD_NICE), false, 'no hashing thread before the first hash');
    const stored = await hashPassword('correct horse');
    assert.equal((await verifyPassword('correct horse', stored)).ok, true);
    const values = threadNiceValues();
    assert.ok(values.includes(Math.min(19, base + HASH_THREAD_NICE)), `a thread at nice ${base + HASH_THREAD_NICE} among ${values.join(',')}`);
    // The event loop's own thread (tid = pid) keeps its priority.
    assert.equal(getPriority(), base);
  });

  it('keep a command alive while hashing and let it end once idle', () => {
    // A script whose only pending work is a hash: it must print the result (the busy thread
    // holds the process open) and then exit by itself (the idle thread does not).
    const script = [
      "const { hashPassword, verifyPassword } = await import('./src/core/passwords.ts');",
      "const stored = await hashPassword('pw');",
      "console.log((await verifyPassword('pw', stored)).ok ? 'verified' : 'refused');",
    ].join('\n');
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(output.trim(), 'verified');
  });

  it('report a thread that cannot run as unavailable, never as a wrong password, and keep no failed decoy', () => {
    // The modules copied without the worker's file: every hashing thread fails to start.
    const repo = new URL('../..', import.meta.url);
    const folder = mkdtempSync(join(tmpdir(), 'cortado-hash-threads-'));
    try {
      for (const file of ['passwords.ts', 'password-hash-threads.ts', 'crypto.ts']) copyFileSync(new URL(`src/core/${file}`, repo), join(folder, file));
      symlinkSync(new URL('node_modules', repo).pathname, join(folder, 'node_modules'));
      writeFileSync(join(folder, 'package.json'), '{ "type": "module" }');
      const script = [
        `const { decoyHash, hashPassword, verifyPassword } = await import(${JSON.stringify(join(folder, 'passwords.ts'))});`,
        "const outcome = (promise) => promise.then((value) => `answered ${JSON.stringify(value)}`, (error) => `${error.name}: ${error.message}`);",
        "console.log(await outcome(hashPassword('pw')));",
        "console.log(await outcome(verifyPassword('pw', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g')));",
        "console.log(await outcome(verifyPassword('pw', '$pbkdf2-sha256$29000$c2FsdHNhbHQ$' + 'A'.repeat(43))));",
        // A malformed stored hash never reaches a thread: still a plain refusal.
        "console.log(await outcome(verifyPassword('pw', 'not a hash')));",
        // The unknown-user decoy fails too, and is made afresh once threads can run again.
        "console.log(await outcome(decoyHash()));",
        `(await import('node:fs')).copyFileSync(${JSON.stringify(new URL('src/core/password-hash-worker.mjs', repo).pathname)}, ${JSON.stringify(join(folder, 'password-hash-worker.mjs'))});`,
        "console.log(await outcome(decoyHash().then((hash) => hash.startsWith('$argon2id$'))));",
      ].join('\n');
      const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
      assert.deepEqual(output.trim().split('\n'), [
        'HashThreadUnavailable: the password hashing thread stopped',
        'HashThreadUnavailable: the password hashing thread stopped',
        'HashThreadUnavailable: the password hashing thread stopped',
        'answered {"ok":false,"needsRehash":false}',
        'HashThreadUnavailable: the password hashing thread stopped',
        'answered true',
      ]);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
