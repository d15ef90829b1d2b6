/** The part of autocannon's API the benchmark uses (the package ships no types). */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  export interface AutocannonRequestParams {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    [key: string]: unknown;
  }

  export interface AutocannonRequest extends AutocannonRequestParams {
    setupRequest?: (request: AutocannonRequestParams, context: Record<string, unknown>) => AutocannonRequestParams | null | undefined;
    onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, unknown>) => void;
  }

  /** autocannon 9's per-connection client (lib/httpClient.js): the fields the bench's rate stagger touches. */
  export interface AutocannonClient extends EventEmitter {
    rate?: number;
    reqsMadeThisSecond: number;
    paused?: boolean;
    destroyed: boolean;
    rateInterval?: NodeJS.Timeout;
    requestIterator: { context: Record<string, unknown> };
    _doRequest(): void;
  }

  export interface AutocannonOptions {
    url: string;
    connections?: number;
    pipelining?: number;
    duration?: number;
    timeout?: number;
    /** Requests per second over all connections (each connection gets its share per 1-second window). */
    overallRate?: number;
    ignoreCoordinatedOmission?: boolean;
    /** Called with each connection's client in its constructor. */
    setupClient?: (client: AutocannonClient) => void;
    method?: string;
    headers?: Record<string, string>;
    requests?: AutocannonRequest[];
    [key: string]: unknown;
  }

  export interface AutocannonHistogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    p50: number;
    p90: number;
    p97_5: number;
    p99: number;
    [key: string]: number;
  }

  export interface AutocannonResult {
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    resets: number;
    mismatches: number;
    '2xx': number;
    statusCodeStats: Record<string, { count: number }>;
    latency: AutocannonHistogram;
    requests: AutocannonHistogram & { sent: number; total: number };
    [key: string]: unknown;
  }

  export interface AutocannonInstance extends EventEmitter {
    stop(): void;
  }

  function autocannon(options: AutocannonOptions, callback: (error: Error | null, result: AutocannonResult) => void): AutocannonInstance;
  export default autocannon;
}
