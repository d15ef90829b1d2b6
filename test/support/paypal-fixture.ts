import { execFileSync } from 'node:child_process';
import { sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import CRC32 from 'crc-32';
import { Agent } from 'undici';

/**
 * A local stand-in for PayPal's certificate host: a self-signed TLS server serving a freshly generated
 * message-signing certificate, plus a signer producing PayPal's real header scheme with the matching key.
 */
export class PaypalFixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'paypal-fixture-'));
  private server?: Server;
  /** The certificate hosts a test started with {@link certificateHost}, closed by stop(). */
  private readonly otherHosts: Server[] = [];
  signingKey = '';
  /** A dispatcher that trusts the fixture's TLS certificate. */
  agent?: Agent;
  /** How long a download of a path containing `/slow/` takes; how many such downloads started. */
  slowMs = 1500;
  slowDownloads = 0;
  /** Certificate downloads started, slow or not. */
  downloads = 0;

  async start(): Promise<this> {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'tls.key', '-out', 'tls.crt', '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost');
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'signing.key', '-out', 'signing.crt', '-days', '30',
      '-subj', '/CN=messageverificationcerts.paypal.com');
    this.signingKey = readFileSync(join(this.dir, 'signing.key'), 'utf8');
    const signingCert = readFileSync(join(this.dir, 'signing.crt'), 'utf8');
    const tlsCert = readFileSync(join(this.dir, 'tls.crt'), 'utf8');
    this.server = createServer({ key: readFileSync(join(this.dir, 'tls.key')), cert: tlsCert }, (req, res) => {
      this.downloads++;
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/x-pem-file' });
        res.end(signingCert);
      };
      // A certificate host that keeps a download open (what a forger's URL can do to the verifier's download slots).
      if (req.url?.includes('/slow/')) {
        this.slowDownloads++;
        setTimeout(answer, this.slowMs);
      } else answer();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.agent = new Agent({ connect: { ca: tlsCert } });
    return this;
  }

  get host(): string {
    return `localhost:${(this.server!.address() as AddressInfo).port}`;
  }

  get certUrl(): string {
    return `https://${this.host}/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270`;
  }

  /**
   * Another certificate host on loopback, with the fixture's TLS certificate (so {@link agent} trusts it), answering
   * as `answer` says: a host that fails, serves an error page, or serves certificates of a test's own.
   * @returns its `localhost:port`, for PAYPAL_CERT_HOSTS and certificate URLs
   */
  async certificateHost(answer: RequestListener): Promise<string> {
    const server = createServer({ key: readFileSync(join(this.dir, 'tls.key')), cert: readFileSync(join(this.dir, 'tls.crt')) }, answer);
    this.otherHosts.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `localhost:${(server.address() as AddressInfo).port}`;
  }

  /** PayPal's headers for `body`, signed SHA256withRSA over `id|time|webhookId|crc32`. */
  headers(body: string, webhookId: string, transmissionId = crypto.randomUUID(), certUrl = this.certUrl): Record<string, string> {
    const time = new Date().toISOString();
    const crc = CRC32.buf(Buffer.from(body)) >>> 0;
    const message = `${transmissionId}|${time}|${webhookId}|${crc}`;
    return {
      'content-type': 'application/json',
      'paypal-transmission-id': transmissionId,
      'paypal-transmission-time': time,
      'paypal-transmission-sig': cryptoSign('sha256', Buffer.from(message), this.signingKey).toString('base64'),
      'paypal-cert-url': certUrl,
      'paypal-auth-algo': 'SHA256withRSA',
    };
  }

  async stop(): Promise<void> {
    await this.agent?.close();
    const close = (server?: Server) => new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
    await Promise.all([this.server, ...this.otherHosts].map(close));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
