/**
 * Benchmark options: CLI flags win over environment variables, which win over defaults.
 *
 *   --duration=20        BENCH_DURATION       seconds of measured load per phase (baseline, service)
 *   --warmup=3           BENCH_WARMUP         seconds of unmeasured load before each phase
 *   --connections=64     BENCH_CONNECTIONS    concurrent HTTP connections / PostgreSQL clients
 *   --payload=2048       BENCH_PAYLOAD_BYTES  body size in bytes
 *   --drain-timeout=180  BENCH_DRAIN_TIMEOUT  seconds to wait for every accepted event to be COMPLETED
 *   --skip-build         BENCH_SKIP_BUILD=1   use dist/ as it is (default: `tsc -p tsconfig.json` first)
 *   --skip-baseline      BENCH_SKIP_BASELINE=1
 *   --cpu-prof[=dir]     BENCH_CPU_PROF       run the ingress and worker with `node --cpu-prof` (profiles in dir)
 *   --keep               BENCH_KEEP=1         keep the bench databases and queue keys (for inspection)
 *   --env=KEY=VALUE      (repeatable)         extra environment for the service processes (e.g. DATABASE_POOL_SIZE=30)
 *   --ingress-env=K=V / --worker-env=K=V      the same, for one role only
 *   --worker-nice=0      BENCH_WORKER_NICE    run the worker at this nice level (e.g. 10: it takes CPU the ingress
 *                                             leaves, as a separately scheduled worker pod would; 0 = as deployed here)
 *   --pause-worker       BENCH_PAUSE_WORKER=1 stop the worker (SIGSTOP) for the measured load and resume it after:
 *                                             the ingest path alone, as when workers run on other nodes; the drain
 *                                             then measures the worker alone
 *
 * PostgreSQL and Redis are found through DATABASE_URL / REDIS_URL (defaults: localhost).
 */
export interface BenchOptions {
  durationSec: number;
  warmupSec: number;
  connections: number;
  payloadBytes: number;
  drainTimeoutSec: number;
  skipBuild: boolean;
  skipBaseline: boolean;
  cpuProfDir?: string;
  keep: boolean;
  workerNice: number;
  pauseWorker: boolean;
  serviceEnv: Record<string, string>;
  ingressEnv: Record<string, string>;
  workerEnv: Record<string, string>;
  databaseUrl: string;
  redisUrl: string;
}

const truthy = (value: string | undefined) => value !== undefined && ['1', 'true', 'yes', ''].includes(value.toLowerCase());

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Map<string, string>();
  const envPairs = { serviceEnv: {} as Record<string, string>, ingressEnv: {} as Record<string, string>, workerEnv: {} as Record<string, string> };
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--duration=20] [--warmup=3] [--connections=64] [--payload=2048] [--drain-timeout=180]\n' +
          '                        [--skip-build] [--skip-baseline] [--cpu-prof[=dir]] [--keep] [--worker-nice=N] [--pause-worker] [--env=KEY=VALUE ...]\n',
      );
      process.exit(0);
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument: ${arg}`);
    const [, name, value] = match as unknown as [string, string, string | undefined];
    if (name === 'env' || name === 'ingress-env' || name === 'worker-env') {
      const eq = value?.indexOf('=') ?? -1;
      if (!value || eq <= 0) throw new Error(`--${name} needs KEY=VALUE`);
      const target = name === 'env' ? envPairs.serviceEnv : name === 'ingress-env' ? envPairs.ingressEnv : envPairs.workerEnv;
      target[value.slice(0, eq)] = value.slice(eq + 1);
      continue;
    }
    flags.set(name, value ?? '');
  }
  const known = new Set(['duration', 'warmup', 'connections', 'payload', 'drain-timeout', 'skip-build', 'skip-baseline', 'cpu-prof', 'keep', 'worker-nice', 'pause-worker']);
  for (const name of flags.keys()) if (!known.has(name)) throw new Error(`unknown option: --${name}`);

  const number = (flag: string, envName: string, fallback: number, min: number): number => {
    const raw = flags.get(flag) ?? env[envName];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) throw new Error(`--${flag} / ${envName} must be a number >= ${min} (got ${raw})`);
    return value;
  };
  const flag = (name: string, envName: string) => flags.has(name) || (env[envName] !== undefined && truthy(env[envName]));
  const cpuProf = flags.has('cpu-prof') ? flags.get('cpu-prof') || 'bench-profiles' : env.BENCH_CPU_PROF || undefined;

  return {
    durationSec: number('duration', 'BENCH_DURATION', 20, 1),
    warmupSec: number('warmup', 'BENCH_WARMUP', 3, 0),
    connections: Math.round(number('connections', 'BENCH_CONNECTIONS', 64, 1)),
    payloadBytes: Math.round(number('payload', 'BENCH_PAYLOAD_BYTES', 2048, 256)),
    drainTimeoutSec: number('drain-timeout', 'BENCH_DRAIN_TIMEOUT', 180, 1),
    skipBuild: flag('skip-build', 'BENCH_SKIP_BUILD'),
    skipBaseline: flag('skip-baseline', 'BENCH_SKIP_BASELINE'),
    cpuProfDir: cpuProf,
    keep: flag('keep', 'BENCH_KEEP'),
    workerNice: Math.round(number('worker-nice', 'BENCH_WORKER_NICE', 0, -20)),
    pauseWorker: flag('pause-worker', 'BENCH_PAUSE_WORKER'),
    ...envPairs,
    databaseUrl: env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres',
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379/0',
  };
}
