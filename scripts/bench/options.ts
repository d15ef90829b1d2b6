/**
 * Benchmark options: CLI flags win over environment variables, which win over defaults.
 *
 *   --duration=20        BENCH_DURATION       seconds of measured load per phase (baseline, service)
 *   --warmup=3           BENCH_WARMUP         seconds of unmeasured load before each phase
 *   --connections=64     BENCH_CONNECTIONS    concurrent HTTP connections / PostgreSQL clients
 *   --payload=2048       BENCH_PAYLOAD_BYTES  body size in bytes
 *   --drain-timeout=180  BENCH_DRAIN_TIMEOUT  seconds to wait for every accepted event to be COMPLETED
 *   --skip-build         BENCH_SKIP_BUILD=1   use dist/ as it is (default: `tsc -p tsconfig.json` first)
 *   --baseline=both      BENCH_BASELINE       which baselines run: `pgbench` (the server's own load generator, its
 *                                             ceiling), `node` (the same insert from the Node pg client, pg-load.ts),
 *                                             `both` (default) or `none`; pgbench missing → one line, then `node`
 *   --skip-baseline      BENCH_SKIP_BASELINE=1 the same as --baseline=none
 *   --cpu-prof[=dir]     BENCH_CPU_PROF       run the ingress and worker with `node --cpu-prof` (profiles in dir)
 *   --keep               BENCH_KEEP=1         keep the bench databases and queue keys (for inspection)
 *   --env=KEY=VALUE      (repeatable)         extra environment for the service processes (e.g. DATABASE_POOL_SIZE=30)
 *   --ingress-env=K=V / --worker-env=K=V      the same, for one role only
 *   --worker-nice=0      BENCH_WORKER_NICE    run the worker at this nice level (e.g. 10: it takes CPU the ingress
 *                                             leaves, as a separately scheduled worker pod would; 0 = as deployed here)
 *   --pause-worker       BENCH_PAUSE_WORKER=1 stop the worker (SIGSTOP) for the measured load and resume it after:
 *                                             the ingest path alone, as when workers run on other nodes; the drain
 *                                             then measures the worker alone
 *   --code-defaults      BENCH_CODE_DEFAULTS=1 run the roles with the code's defaults (WORKER_CONCURRENCY=32, …)
 *                                             instead of the chart's `config` maps
 *   --sweep              BENCH_SWEEP=1        instead of one unlimited load: the ingest path at increasing offered
 *                                             rates (fractions of the pgbench baseline's rate, or the Node one's
 *                                             when pgbench did not run), one ingress + worker pair for every step,
 *                                             the same check at the end; writes a latency chart (SVG) and its data
 *   --sweep-steps=0.05,0.1,0.15,0.2,0.3,0.5,1,max   BENCH_SWEEP_STEPS   offered rates as fractions of the baseline
 *                                             rate, in the order run; `max` = no rate limit
 *   --sweep-duration=8   BENCH_SWEEP_DURATION seconds of load per step
 *   --sweep-aligned      BENCH_SWEEP_ALIGNED=1 autocannon's rate windows as they are (every connection's second starts
 *                                             together: a burst each second); default: staggered across the second
 *   --chart=docs/perf/ingest-latency.svg  BENCH_CHART  where --sweep writes the SVG (the data goes next to it, .json)
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
  /** True when no baseline runs (`--skip-baseline` / `--baseline=none`). */
  skipBaseline: boolean;
  /** Which baselines run. */
  baseline: BaselineChoice;
  cpuProfDir?: string;
  keep: boolean;
  workerNice: number;
  pauseWorker: boolean;
  /** Run the roles with the code's defaults instead of the chart's `config` maps (`--code-defaults`). */
  codeDefaults: boolean;
  serviceEnv: Record<string, string>;
  ingressEnv: Record<string, string>;
  workerEnv: Record<string, string>;
  sweep: boolean;
  /** Fractions of the baseline rate; `'max'` = no rate limit. */
  sweepSteps: SweepStep[];
  sweepDurationSec: number;
  sweepAligned: boolean;
  chartPath: string;
  databaseUrl: string;
  redisUrl: string;
}

export type BaselineChoice = 'node' | 'pgbench' | 'both' | 'none';
export type SweepStep = number | 'max';

export const DEFAULT_SWEEP_STEPS: SweepStep[] = [0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 'max'];
export const DEFAULT_CHART_PATH = 'docs/perf/ingest-latency.svg';

/** `0.1,0.25,1,max` → [0.1, 0.25, 1, 'max']: positive fractions of the baseline rate, `max` (or `unlimited`) for no limit. */
export function parseSweepSteps(raw: string): SweepStep[] {
  const steps = raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part): SweepStep => {
      if (part === 'max' || part === 'unlimited') return 'max';
      const value = part.endsWith('%') ? Number(part.slice(0, -1)) / 100 : Number(part);
      if (!Number.isFinite(value) || value <= 0) throw new Error(`--sweep-steps: each step is a fraction > 0 of the baseline rate (0.5 or 50%) or max (got ${part})`);
      return value;
    });
  if (steps.length === 0) throw new Error('--sweep-steps needs at least one step');
  return steps;
}

const truthy = (value: string | undefined) => value !== undefined && ['1', 'true', 'yes', ''].includes(value.toLowerCase());

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Map<string, string>();
  const envPairs = { serviceEnv: {} as Record<string, string>, ingressEnv: {} as Record<string, string>, workerEnv: {} as Record<string, string> };
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--duration=20] [--warmup=3] [--connections=64] [--payload=2048] [--drain-timeout=180]\n' +
          '                        [--skip-build] [--baseline=node|pgbench|both|none] [--skip-baseline] [--cpu-prof[=dir]] [--keep] [--worker-nice=N]\n' +
          '                        [--pause-worker] [--code-defaults] [--env=KEY=VALUE ...] [--sweep [--sweep-steps=0.1,0.25,...,max] [--sweep-duration=8] [--sweep-aligned]\n' +
          '                        [--chart=docs/perf/ingest-latency.svg]]\n',
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
  const known = new Set(['duration', 'warmup', 'connections', 'payload', 'drain-timeout', 'skip-build', 'skip-baseline', 'baseline', 'cpu-prof', 'keep', 'worker-nice', 'pause-worker',
    'sweep', 'sweep-steps', 'sweep-duration', 'sweep-aligned', 'chart', 'code-defaults']);
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
  const skipBaseline = flag('skip-baseline', 'BENCH_SKIP_BASELINE');
  const baselineRaw = (flags.get('baseline') ?? env.BENCH_BASELINE ?? '') || 'both';
  if (!['node', 'pgbench', 'both', 'none'].includes(baselineRaw)) throw new Error(`--baseline / BENCH_BASELINE must be node, pgbench, both or none (got ${baselineRaw})`);
  const baseline: BaselineChoice = skipBaseline ? 'none' : (baselineRaw as BaselineChoice);
  const sweep = flag('sweep', 'BENCH_SWEEP');
  if (sweep && baseline === 'none') throw new Error('--sweep scales its steps by a baseline\'s rate: drop --skip-baseline / --baseline=none');
  const stepsRaw = flags.get('sweep-steps') ?? env.BENCH_SWEEP_STEPS;
  const chart = flags.get('chart') ?? env.BENCH_CHART;
  if (flags.has('chart') && !chart) throw new Error('--chart needs a path (--chart=docs/perf/ingest-latency.svg)');

  return {
    durationSec: number('duration', 'BENCH_DURATION', 20, 1),
    warmupSec: number('warmup', 'BENCH_WARMUP', 3, 0),
    connections: Math.round(number('connections', 'BENCH_CONNECTIONS', 64, 1)),
    payloadBytes: Math.round(number('payload', 'BENCH_PAYLOAD_BYTES', 2048, 256)),
    drainTimeoutSec: number('drain-timeout', 'BENCH_DRAIN_TIMEOUT', 180, 1),
    skipBuild: flag('skip-build', 'BENCH_SKIP_BUILD'),
    skipBaseline: baseline === 'none',
    baseline,
    cpuProfDir: cpuProf,
    keep: flag('keep', 'BENCH_KEEP'),
    workerNice: Math.round(number('worker-nice', 'BENCH_WORKER_NICE', 0, -20)),
    pauseWorker: flag('pause-worker', 'BENCH_PAUSE_WORKER'),
    codeDefaults: flag('code-defaults', 'BENCH_CODE_DEFAULTS'),
    ...envPairs,
    sweep,
    sweepSteps: stepsRaw ? parseSweepSteps(stepsRaw) : [...DEFAULT_SWEEP_STEPS],
    sweepDurationSec: number('sweep-duration', 'BENCH_SWEEP_DURATION', 8, 1),
    sweepAligned: flag('sweep-aligned', 'BENCH_SWEEP_ALIGNED'),
    chartPath: chart || DEFAULT_CHART_PATH,
    databaseUrl: env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres',
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379/0',
  };
}
