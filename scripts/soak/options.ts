/** Command-line options of `npm run soak`. */
import { parseArgs } from 'node:util';

export interface SoakOptions {
  /** Seconds of measured load. */
  duration: number;
  /** Concurrent connections of the main load (reads, lists, writes). */
  connections: number;
  db: 'sqlite' | 'postgres';
  /** Where the JSON report goes (none when absent). */
  json?: string;
  /** Seconds of load before the baseline memory sample. */
  warmup: number;
  /** Seconds without load before the "after" memory sample. */
  settle: number;
  /** Password logins per second (argon2id: slow by design). */
  loginRate: number;
  /** OAuth refresh-token grants per second (the token endpoint allows 120 a minute per IP). */
  refreshRate: number;
  /** Seconds between progress lines. */
  progressEvery: number;
  help: boolean;
}

export const USAGE = `usage: npm run soak -- [options]

  --duration <s>        seconds of measured load (default 60)
  --connections <n>     concurrent keep-alive connections of the main load (default 200)
  --db sqlite|postgres  database of the temporary site (default sqlite); postgres needs
                        CORTADO_TEST_PG_URL and uses Redis when CORTADO_TEST_REDIS_URL is set
  --json <file>         also write the report as JSON
  --warmup <s>          load before the baseline memory sample (default: duration/6, 1 to 10)
  --settle <s>          quiet seconds before the "after" memory sample (default: duration/6, 2 to 10)
  --login-rate <n>      password logins per second (default 2)
  --refresh-rate <n>    OAuth refresh-token grants per second (default 1; at most 2)
  --progress <s>        seconds between progress lines (default 5)
  -h, --help            this help

The server runs on 127.0.0.1 only, as a child process (one worker). Exit code 0 when every check
passes (no 5xx, no connection errors, every answer 200, no acknowledged write lost, memory back
near its baseline, a clean SIGTERM exit), 1 when one fails, 2 on bad options.`;

function positive(name: string, text: string | undefined, fallback: number, integer: boolean, max = Infinity): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > max || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}${max < Infinity ? ` up to ${max}` : ''}, not ${JSON.stringify(text)}`);
  }
  return value;
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

export function parseSoakOptions(argv: string[]): SoakOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      db: { type: 'string' },
      json: { type: 'string' },
      warmup: { type: 'string' },
      settle: { type: 'string' },
      'login-rate': { type: 'string' },
      'refresh-rate': { type: 'string' },
      progress: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const db = values.db ?? 'sqlite';
  if (db !== 'sqlite' && db !== 'postgres') throw new Error(`--db must be sqlite or postgres, not ${JSON.stringify(db)}`);
  // Bounded: a soak is hours at most, and its connections fit in one process's sockets.
  const duration = positive('duration', values.duration, 60, false, 86_400);
  return {
    duration,
    connections: positive('connections', values.connections, 200, true, 5000),
    db,
    json: values.json,
    warmup: values.warmup === '0' ? 0 : positive('warmup', values.warmup, Math.round(clamp(duration / 6, 1, 10)), false, 3600),
    settle: positive('settle', values.settle, Math.round(clamp(duration / 6, 2, 10)), false, 3600),
    loginRate: positive('login-rate', values['login-rate'], 2, false, 100),
    refreshRate: positive('refresh-rate', values['refresh-rate'], 1, false, 2),
    progressEvery: positive('progress', values.progress, 5, false, 3600),
    help: values.help ?? false,
  };
}
