import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TcpProxy } from '../../support/tcp-proxy.js';

const run = promisify(execFile);

/**
 * How a scenario takes RabbitMQ away and brings it back. Where `rabbitmqctl` can drive the broker (a local node, run
 * as a user allowed to), the broker itself restarts (`stop_app`, then `start_app`: connections are closed by the
 * broker, durable exchanges, queues and persistent messages come back); elsewhere a TCP proxy in front of it cuts
 * the connections and refuses new ones, which is what a restart looks like from the worker.
 */
export class RabbitRestart {
  private constructor(
    readonly how: 'rabbitmqctl stop_app / start_app' | 'TCP proxy cut',
    /** The URL the service is given (the proxy's, in proxy mode). */
    readonly url: string,
    private readonly proxy?: TcpProxy,
  ) {}

  static async choose(brokerUrl: string): Promise<RabbitRestart> {
    const target = new URL(brokerUrl);
    if (['127.0.0.1', 'localhost'].includes(target.hostname) && (await rabbitmqctlWorks())) return new RabbitRestart('rabbitmqctl stop_app / start_app', brokerUrl);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5672));
    const port = await proxy.start();
    const viaProxy = new URL(brokerUrl);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(port);
    return new RabbitRestart('TCP proxy cut', viaProxy.toString(), proxy);
  }

  async stop(): Promise<void> {
    if (this.proxy) await this.proxy.stop();
    else await run('rabbitmqctl', ['stop_app'], { timeout: 60_000 });
  }

  async start(): Promise<void> {
    if (this.proxy) await this.proxy.restart();
    else await run('rabbitmqctl', ['start_app'], { timeout: 60_000 });
  }

  /** Connections the broker holds whose client name ends with `nameEnd`; undefined when it cannot be asked. */
  async connectionsNamed(nameEnd: string): Promise<number | undefined> {
    if (this.proxy) return undefined;
    const { stdout } = await run('rabbitmqctl', ['list_connections', 'client_properties', '--formatter', 'json', '-q'], { timeout: 30_000 });
    const rows = JSON.parse(stdout) as { client_properties: [string, string, unknown][] }[];
    return rows.filter((row) => row.client_properties.some(([key, , value]) => key === 'connection_name' && String(value).endsWith(nameEnd))).length;
  }

  async close(): Promise<void> {
    await this.proxy?.stop();
  }
}

async function rabbitmqctlWorks(): Promise<boolean> {
  try {
    await run('rabbitmqctl', ['status', '-q'], { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}
