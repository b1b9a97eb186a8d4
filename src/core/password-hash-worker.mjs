// The thread password hashes are computed on (src/core/password-hash-threads.ts). Plain
// JavaScript: a worker thread does not inherit the tsx loader the main thread runs under.
import { pbkdf2Sync } from 'node:crypto';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { hashSync, verifySync } from '@node-rs/argon2';

// On Linux a thread's nice value is its own: this lowers this thread alone (to the value the
// main thread computed), so the event loop preempts hashing whenever both want the same core.
// Raising one's nice value needs no privilege; where the platform refuses, hashing runs at
// normal priority.
try {
  setPriority(workerData.nice);
} catch {
  // Not fatal: only the scheduling preference is lost.
}

const jobs = {
  argon2Hash: ([password, options]) => hashSync(password, options),
  argon2Verify: ([stored, password]) => verifySync(stored, password),
  pbkdf2Sha256: ([password, salt, rounds, keyBytes]) => pbkdf2Sync(password, salt, rounds, keyBytes, 'sha256'),
};

parentPort.on('message', ({ op, args }) => {
  let reply;
  try {
    reply = { ok: true, value: jobs[op](args) };
  } catch {
    // Never the error itself: it could quote its input.
    reply = { ok: false };
  }
  parentPort.postMessage(reply);
});
