/** Command-line options of `npm run bench`. */
import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Seconds per measured run. */
  duration: number;
  /** Seconds of warm-up before each measured run (not measured). */
  warmup: number;
  rounds: number;
  connections: number;
  /** Scenario ids to run (with what they depend on); every scenario when empty. */
  only: string[];
  scale: boolean;
  /** Multiplies the --scale sizes (hidden; the smoke test seeds a tiny "scale"). */
  scaleFactor: number;
  cpuProf: boolean;
  /** Fixed rate of the login storm, logins per second. */
  loginRate: number;
  /** ToDo rows seeded. */
  todos: number;
  noPin: boolean;
  /** Leave the machine's idle states alone (see idle-polling.ts). */
  noIdlePoll: boolean;
  /** The SQLite site's `read_cache_mb`, when not the default. */
  readCacheMb?: number;
  /** Where the JSON report goes (default: .bench/bench-<time>.json). */
  out?: string;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

  --duration <s>      seconds per measured run (default 10)
  --warmup <s>        warm-up seconds before each measured run (default: half the duration, at most 2)
  --rounds <n>        rounds; each scenario runs once per round, bare node:http before each (default 3)
  --connections <n>   concurrent connections (default 50)
  --only <ids>        comma-separated scenario ids (see below); a scenario's reference runs too
  --login-rate <n>    logins per second during the login storm (default 80)
  --todos <n>         ToDo rows to seed (default 1000)
  --cpu-prof          run the cortado server under node --cpu-prof and summarise the profile
  --out <file>        write the JSON report here (default .bench/bench-<time>.json)
  --no-pin            do not pin processes to cores with taskset
  --no-idle-poll      let idle CPUs halt as the machine sets them (by default the bench holds
                      /dev/cpu_dma_latency at 0 while it runs, when it may: idle CPUs poll)
  --read-cache-mb <n> the SQLite site's read cache in MiB (default: the site default, 16);
                      0 measures every read reaching the database
  --scale             then seed 1M ToDo rows, 100k users with API keys and 100k sessions into
                      the SQLite site and run the read scenarios again: the report shows the
                      ratios at both sizes and whether they dropped by 10 % at most
  -h, --help          this help

PostgreSQL + Redis scenarios (the token read with 1 worker and with serve --workers 2): set
CORTADO_BENCH_PG_URL and CORTADO_BENCH_REDIS_URL (or CORTADO_TEST_PG_URL / CORTADO_TEST_REDIS_URL).`;

function positive(name: string, text: string | undefined, fallback: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, not ${JSON.stringify(text)}`);
  }
  return value;
}

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string' },
      'login-rate': { type: 'string' },
      todos: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      out: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'no-idle-poll': { type: 'boolean', default: false },
      'read-cache-mb': { type: 'string' },
      scale: { type: 'boolean', default: false },
      'scale-factor': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const duration = positive('duration', values.duration, 10, false);
  const warmup = values.warmup === '0' ? 0 : positive('warmup', values.warmup, Math.min(2, duration / 2), false);
  return {
    duration,
    warmup,
    rounds: positive('rounds', values.rounds, 3, true),
    connections: positive('connections', values.connections, 50, true),
    only: (values.only ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    loginRate: positive('login-rate', values['login-rate'], 80, false),
    todos: positive('todos', values.todos, 1000, true),
    cpuProf: values['cpu-prof'] ?? false,
    out: values.out,
    noPin: values['no-pin'] ?? false,
    noIdlePoll: values['no-idle-poll'] ?? false,
    readCacheMb: values['read-cache-mb'] === '0' ? 0 : values['read-cache-mb'] === undefined ? undefined : positive('read-cache-mb', values['read-cache-mb'], 16, false),
    scale: values.scale ?? false,
    scaleFactor: positive('scale-factor', values['scale-factor'], 1, false),
    help: values.help ?? false,
  };
}
