import type { Redis } from 'ioredis';

/** A circuit's state: `closed` (deliveries go), `open` (they wait), `half-open` (one probe is testing the destination). */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** What the worker may do with one delivery now (read before it is attempted). */
export type Admission =
  /** Deliver (no breaker, or a closed circuit). */
  | { verdict: 'allow' }
  /** Deliver: this delivery is the one probe of a half-open circuit; report its outcome with `token`. */
  | { verdict: 'probe'; token: string }
  /** Do not deliver: the destination is paused. */
  | { verdict: 'paused' }
  /** Do not deliver: the circuit is open (`waitMs` until its cooldown ends) or another delivery is probing it. */
  | { verdict: 'open' | 'probing'; waitMs: number };

/** What a delivery's outcome did to the circuit. */
export type CircuitTransition = 'opened' | 'reopened' | 'closed' | undefined;

/** One destination's shared state as operators and metrics see it. */
export interface DestinationStateView {
  name: string;
  paused: boolean;
  /** Null when the destination has no breaker (or its state could not be read). */
  circuit: {
    state: CircuitState;
    /** Consecutive failed attempts counted so far (while closed). */
    consecutiveFailures: number;
    /** When the circuit left `closed` (ms since the epoch, Redis's clock); kept while it flips open ⇄ half-open. */
    openedAt: number | null;
    /** When an open circuit lets its next probe through. */
    openUntil: number | null;
  } | null;
}

// Every script reads Redis's clock (TIME), so every pod agrees on time; writes after TIME are fine (Redis ≥ 5
// replicates a script's effects).
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: paused set, paused version, circuit hash. ARGV: name, breaker (1/0), probe lease ms, probe token, recheck (1/0),
// cooldown ms (0: not given).
// A recheck (a delivery admitted before it waited for one of the destination's slots, or before its route's transform
// built its message) never becomes the probe: it goes if the destination is not paused and its circuit is still
// closed, or if it is the probe already (its token).
// An open circuit ends no later than one cooldown of this worker's configuration after it (re)opened, or the
// Retry-After it was answered with when later: the end written when it opened was the cooldown of the configuration
// then, and a cooldown shortened since (and rolled out) was still waited out in full. Only ever earlier: a cooldown
// lengthened since applies from the next reopening. The end is written back for the other readers (the probe-free
// check, the admin API, the metrics). A circuit opened before the time it opened was kept keeps its end, and so
// does one whose end is not the one written with that time (`openedUntil`): a worker of the previous version
// (re)opens it writing `openUntil` alone, and the time left from an earlier opening would cut its reopening short.
const ADMIT = `${NOW}
if redis.call('EXISTS', KEYS[2]) == 0 then return {'unsynced', 0} end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {'paused', 0} end
if ARGV[2] ~= '1' then return {'allow', 0} end
local c = redis.call('HMGET', KEYS[3], 'state', 'openUntil', 'probeUntil', 'probe', 'lastOpenedAt', 'retryUntil', 'openedUntil')
local state = c[1] or 'closed'
if state == 'closed' then return {'allow', 0} end
local untilMs = tonumber(c[2]) or 0
local cooldown = tonumber(ARGV[6]) or 0
local lastOpenedAt = tonumber(c[5])
if state == 'open' and cooldown > 0 and lastOpenedAt and c[7] == c[2] then
  local configured = math.max(lastOpenedAt + cooldown, tonumber(c[6]) or 0)
  if configured < untilMs then
    untilMs = configured
    redis.call('HSET', KEYS[3], 'openUntil', untilMs, 'openedUntil', untilMs)
  end
end
if ARGV[5] == '1' then
  if state == 'half-open' and ARGV[4] ~= '' and c[4] == ARGV[4] then return {'allow', 0} end
  if state == 'open' then return {'open', math.max(0, untilMs - now)} end
  return {'probing', math.max(0, (tonumber(c[3]) or 0) - now)}
end
if state == 'open' then
  if now < untilMs then return {'open', untilMs - now} end
else
  local probeUntil = tonumber(c[3]) or 0
  if now < probeUntil then return {'probing', probeUntil - now} end
end
redis.call('HSET', KEYS[3], 'state', 'half-open', 'probe', ARGV[4], 'probeUntil', now + tonumber(ARGV[3]))
return {'probe', 0}`;

// KEYS: circuit hash. ARGV: outcome (success/failure/release), failure threshold, cooldown ms, probe token ('' for none),
// the failure's Retry-After in ms (0 for none).
// `release`: the probe was not sent after all (it had to wait for the rate limit): another delivery may probe now.
// A success closes the circuit whatever its state (the destination took a request); a failure counts while closed
// and opens it at the threshold; the probe's failure opens it again for another cooldown. Either stays open until the
// failure's Retry-After has passed when that is later: the destination said when it may be asked again, and the
// event's own retry waits for it too. When it (re)opened and until when its Retry-After holds it are kept, for
// admissions under a cooldown changed since (see ADMIT). Anything else (a late answer to a request sent before the circuit opened, a
// probe whose lease ran out) changes nothing.
const RECORD = `${NOW}
local c = redis.call('HMGET', KEYS[1], 'state', 'failures', 'probe', 'openedAt')
local state = c[1] or 'closed'
local failures = tonumber(c[2]) or 0
local retryAfter = tonumber(ARGV[5]) or 0
local openFor = math.max(tonumber(ARGV[3]), retryAfter)
if ARGV[1] == 'release' then
  if state == 'half-open' and ARGV[4] ~= '' and c[3] == ARGV[4] then redis.call('HSET', KEYS[1], 'probe', '', 'probeUntil', 0) end
  return ''
end
if ARGV[1] == 'success' then
  if state == 'closed' then
    if failures > 0 then redis.call('HSET', KEYS[1], 'failures', 0) end
    return ''
  end
  redis.call('DEL', KEYS[1])
  return 'closed'
end
if state == 'closed' then
  failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if failures >= tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], 'state', 'open', 'openedAt', now, 'openUntil', now + openFor, 'probe', '', 'probeUntil', 0, 'lastOpenedAt', now, 'retryUntil', now + retryAfter, 'openedUntil', now + openFor)
    return 'opened'
  end
  return ''
end
if state == 'half-open' and ARGV[4] ~= '' and c[3] == ARGV[4] then
  redis.call('HSET', KEYS[1], 'state', 'open', 'openUntil', now + openFor, 'probe', '', 'probeUntil', 0, 'lastOpenedAt', now, 'retryUntil', now + retryAfter, 'openedUntil', now + openFor)
  return 'reopened'
end
return ''`;

// KEYS: circuit hash. 1 when a delivery admitted now would not wait for the circuit: closed, open with its cooldown
// over, or half-open with its probe freed (or its lease run out).
const PROBE_FREE = `${NOW}
local c = redis.call('HMGET', KEYS[1], 'state', 'openUntil', 'probeUntil')
local state = c[1] or 'closed'
if state == 'closed' then return 1 end
local untilMs = tonumber(state == 'open' and c[2] or c[3]) or 0
if now >= untilMs then return 1 end
return 0`;

// KEYS: paused set, paused version. ARGV: version, names... Only a newer version replaces the copy, so copies
// written out of order (two admin requests, a worker re-syncing after Redis lost its data) end in the latest.
const SYNC_PAUSES = `
local current = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[1]) <= current then return 0 end
redis.call('DEL', KEYS[1])
if #ARGV > 1 then redis.call('SADD', KEYS[1], unpack(ARGV, 2)) end
redis.call('SET', KEYS[2], ARGV[1])
return 1`;

interface ScriptedRedis extends Redis {
  destinationAdmit(paused: string, version: string, circuit: string, name: string, breaker: string, leaseMs: number, token: string, recheck: string, cooldownMs: number): Promise<[string, number]>;
  destinationRecord(circuit: string, outcome: string, threshold: number, cooldownMs: number, token: string, retryAfterMs: number): Promise<string>;
  destinationSyncPauses(paused: string, version: string, ...args: (string | number)[]): Promise<number>;
  destinationProbeFree(circuit: string): Promise<number>;
}

/**
 * Destinations' shared state in Redis, under the queue's prefix (`<prefix>:<queue>:destinations:…`), so every worker
 * process and pod sees the same: the paused set (a copy of PostgreSQL's `destination_pauses`, with the version it
 * was copied at) and one hash per circuit. Each transition is one Lua script, atomic across pods.
 */
export class DestinationStateStore {
  private readonly redis: ScriptedRedis;
  private readonly base: string;
  /** Admissions and rechecks of destinations without a breaker asked in this turn and not yet sent, by destination (see admit). */
  private readonly unsentAdmissions = new Map<string, Promise<Admission | 'unsynced'>>();

  constructor(
    redis: Redis,
    /** `<prefix>:<queue>`: BullMQ's own key prefix for the queue. */
    queueKey: string,
  ) {
    this.redis = redis as ScriptedRedis;
    this.base = `${queueKey}:destinations`;
    if (!('destinationAdmit' in redis)) {
      redis.defineCommand('destinationAdmit', { numberOfKeys: 3, lua: ADMIT });
      redis.defineCommand('destinationRecord', { numberOfKeys: 1, lua: RECORD });
      redis.defineCommand('destinationSyncPauses', { numberOfKeys: 2, lua: SYNC_PAUSES });
      redis.defineCommand('destinationProbeFree', { numberOfKeys: 1, lua: PROBE_FREE });
    }
  }

  get pausedKey(): string {
    return `${this.base}:paused`;
  }

  private get versionKey(): string {
    return `${this.base}:paused-version`;
  }

  circuitKey(name: string): string {
    return `${this.base}:circuit:${name}`;
  }

  /** The rate limiter's key for a destination. */
  rateKey(name: string): string {
    return `${this.base}:rate:${name}`;
  }

  /**
   * May a delivery to `name` go now? With a breaker, an open circuit whose cooldown is over lets exactly one
   * delivery through as its probe (held for `probeLeaseMs`, after which another may probe if no answer came).
   * `'unsynced'`: Redis holds no copy of the paused set (a new or emptied Redis); copy it with {@link syncPauses}.
   * `cooldownMs`: the breaker's as configured now, which an open circuit's end follows (see ADMIT).
   *
   * Without a breaker the script only reads (the paused set's copy and membership), and the same for every delivery to
   * `name`: the admissions asked in one event-loop turn (the deliveries of a claim batch) share one run of it, sent at
   * the end of the turn, instead of one each. Every one of them was asked before that run was sent, so it reads Redis
   * as it is after each was asked, as its own run would have: a pause copied before an admission was asked is seen by
   * it. An admission asked once the shared run was sent gets a run of its own. With a breaker every admission runs
   * the script (only one may become the probe).
   */
  admit(name: string, breaker: { probeLeaseMs: number; cooldownMs?: number } | undefined, token: string): Promise<Admission | 'unsynced'> {
    if (breaker) return this.runAdmit(name, '1', breaker.probeLeaseMs, token, '0', breaker.cooldownMs ?? 0);
    return this.admitWithoutBreaker(name);
  }

  /**
   * May a delivery admitted earlier still go, after it waited for one of the destination's slots or for its route's
   * transform? Not if the destination was paused or its circuit left `closed` meanwhile, unless it holds the probe
   * (`probeToken`). Never makes it the probe.
   *
   * Without a breaker the script returns once it has read the paused set, before it looks at the recheck, the token or
   * the cooldown: a recheck reads what an admission reads, and shares a run with the admissions and rechecks of `name`
   * asked in the same turn (see {@link admit}; the deliveries whose transforms ended, or which got their slots, in one
   * turn). With a breaker every recheck runs the script: the probe's holder is answered otherwise than the rest.
   */
  recheck(name: string, hasBreaker: boolean, probeToken: string, cooldownMs = 0): Promise<Admission | 'unsynced'> {
    if (hasBreaker) return this.runAdmit(name, '1', 0, probeToken, '1', cooldownMs);
    return this.admitWithoutBreaker(name);
  }

  /**
   * The script's run for a destination without a breaker (read only, the same answer for every delivery): shared by
   * the admissions and rechecks of `name` asked in this turn, sent at its end; one asked once it was sent gets its own.
   */
  private admitWithoutBreaker(name: string): Promise<Admission | 'unsynced'> {
    let shared = this.unsentAdmissions.get(name);
    if (!shared) {
      shared = new Promise<Admission | 'unsynced'>((resolve, reject) => {
        // After the turn's promise continuations (each delivery's), which may still join; nothing joins once it is sent.
        process.nextTick(() => {
          this.unsentAdmissions.delete(name);
          this.runAdmit(name, '0', 0, '', '0', 0).then(resolve, reject);
        });
      });
      this.unsentAdmissions.set(name, shared);
    }
    return shared;
  }

  private async runAdmit(name: string, breaker: string, leaseMs: number, token: string, recheck: string, cooldownMs: number): Promise<Admission | 'unsynced'> {
    const [verdict, waitMs] = await this.redis.destinationAdmit(this.pausedKey, this.versionKey, this.circuitKey(name), name, breaker, leaseMs, token, recheck, cooldownMs);
    switch (verdict) {
      case 'unsynced':
        return 'unsynced';
      case 'allow':
      case 'paused':
        return { verdict };
      case 'probe':
        return { verdict, token };
      case 'open':
      case 'probing':
        return { verdict, waitMs: Number(waitMs) };
      default:
        throw new Error(`unexpected admission "${verdict}"`);
    }
  }

  /**
   * Counts a delivery's outcome against the circuit; `probeToken` when it was the probe (`release`: the probe was
   * not sent, let another delivery probe). `retryAfterMs`: a failure's Retry-After; a circuit the failure opens (or
   * reopens) stays open at least that long.
   */
  async record(
    name: string,
    outcome: 'success' | 'failure' | 'release',
    breaker: { failureThreshold: number; cooldownMs: number },
    probeToken = '',
    retryAfterMs = 0,
  ): Promise<CircuitTransition> {
    const transition = await this.redis.destinationRecord(this.circuitKey(name), outcome, breaker.failureThreshold, breaker.cooldownMs, probeToken, Math.max(0, Math.round(retryAfterMs)));
    return transition === '' ? undefined : (transition as CircuitTransition);
  }

  /**
   * Drops the circuit of every destination not in `withBreaker` (its breaker turned off, or the destination removed
   * from ROUTES_FILE): what it counted no longer says anything once its successes are no longer counted, so a breaker
   * turned on again, or a destination back, starts closed with no failures, not with an open circuit or failures of
   * an earlier configuration. Key by key (`SCAN`, then one `DEL` each: no two keys need share a Cluster slot).
   * @returns the destinations whose circuit was dropped, with the state it was in
   */
  async forgetCircuits(withBreaker: ReadonlySet<string>): Promise<{ name: string; state: CircuitState; failures: number }[]> {
    const prefix = `${this.base}:circuit:`;
    // The queue's prefix is the operator's: its glob characters are matched as themselves.
    const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    const forgotten: { name: string; state: CircuitState; failures: number }[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const name = key.slice(prefix.length);
        if (!key.startsWith(prefix) || withBreaker.has(name)) continue;
        const replies = (await this.redis.multi().hgetall(key).del(key).exec()) ?? [];
        if (replies[1]?.[0]) throw replies[1][0];
        // A key that is no hash (nothing of ours writes one) is dropped all the same; its state is only for the log.
        const hash = (replies[0]?.[0] ? {} : replies[0]?.[1]) as Record<string, string>;
        if (replies[1]?.[1] === 1) forgotten.push({ name, state: (hash.state as CircuitState | undefined) ?? 'closed', failures: Number(hash.failures ?? 0) });
      }
    } while (cursor !== '0');
    return forgotten;
  }

  /**
   * Whether nothing holds `name`'s circuit back now: it is closed, its cooldown is over, or no probe holds it (freed,
   * or its lease ran out). A delivery admitted now would go, as the probe or because the circuit closed.
   */
  async probeFree(name: string): Promise<boolean> {
    return (await this.redis.destinationProbeFree(this.circuitKey(name))) === 1;
  }

  /**
   * Whether `name` is paused now, as the workers read it; `'unsynced'` when Redis holds no copy of the paused set (a
   * new or emptied Redis), so it cannot tell.
   */
  async isPaused(name: string): Promise<boolean | 'unsynced'> {
    const [copied, member] = await Promise.all([this.redis.exists(this.versionKey), this.redis.sismember(this.pausedKey, name)]);
    if (copied === 0) return 'unsynced';
    return member === 1;
  }

  /** Writes the paused set copied at `version`; false when Redis already holds that version or a newer one. */
  async syncPauses(version: number, names: string[]): Promise<boolean> {
    return (await this.redis.destinationSyncPauses(this.pausedKey, this.versionKey, version, ...names)) === 1;
  }

  /** Every named destination's state, and Redis's clock (ms) to measure its times against, in one round trip. */
  async read(names: string[]): Promise<{ now: number; views: DestinationStateView[] }> {
    const pipeline = this.redis.pipeline().time().smembers(this.pausedKey);
    for (const name of names) pipeline.hgetall(this.circuitKey(name));
    const replies = (await pipeline.exec()) ?? [];
    const failed = replies.find(([error]) => error);
    if (failed) throw failed[0];
    const [seconds, micros] = replies[0]![1] as [string, string];
    const paused = new Set(replies[1]![1] as string[]);
    const number = (value: string | undefined) => (value === undefined || value === '' || value === '0' ? null : Number(value));
    const views = names.map((name, index): DestinationStateView => {
      const hash = replies[index + 2]![1] as Record<string, string>;
      return {
        name,
        paused: paused.has(name),
        circuit: {
          state: (hash.state as CircuitState | undefined) ?? 'closed',
          consecutiveFailures: Number(hash.failures ?? 0),
          openedAt: number(hash.openedAt),
          openUntil: hash.state === 'open' ? number(hash.openUntil) : null,
        },
      };
    });
    return { now: Number(seconds) * 1000 + Math.floor(Number(micros) / 1000), views };
  }
}
