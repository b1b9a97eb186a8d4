/**
 * How fast one core of this machine verifies a password at the argon2id policy logins use,
 * measured in the bench's own process once the load is over: the ceiling of the login target
 * (logins per second on one core), which no code around the hash can pass.
 */
import { hash, verify } from '@node-rs/argon2';
import { ALGORITHM_ARGON2ID, ARGON2_POLICY } from '../../src/core/passwords.ts';

export interface Argon2Ceiling {
  /** CPU time of one verification (all threads of this process), in milliseconds. */
  verifyCpuMs: number;
  /** Verifications one core can do per second: 1000 / verifyCpuMs. */
  perSecond: number;
  samples: number;
}

export async function measureArgon2Ceiling(samples = 10): Promise<Argon2Ceiling> {
  const options = { ...ARGON2_POLICY, algorithm: ALGORITHM_ARGON2ID };
  const password = 'bench password';
  const stored = await hash(password, options);
  // One unmeasured verification: the first allocates argon2's memory.
  await verify(stored, password);
  const start = process.cpuUsage();
  for (let i = 0; i < samples; i++) {
    if (!(await verify(stored, password))) throw new Error('argon2 verification of the bench password failed');
  }
  const used = process.cpuUsage(start);
  const verifyCpuMs = (used.user + used.system) / 1000 / samples;
  return { verifyCpuMs, perSecond: 1000 / verifyCpuMs, samples };
}
