import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = path.resolve(__dirname, '../../..');

/**
 * A nats-server of the test's own (JetStream, file storage in a temp dir, a free port), so the
 * restart cases bounce it instead of the shared server other test files use. Restarts go through
 * scripts/brokers/restart.sh nats with NATS_PORT set, the same script a developer runs.
 */
export class PrivateNats {
  private dir = '';
  port = 0;

  /** `config`: a nats-server configuration file's text (e.g. NKey users); `args`: more flags (TLS...). */
  constructor(private readonly auth?: { user: string; pass: string } | { config: string } | { args: string[] }) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.dir ||= mkdtempSync(path.join(tmpdir(), 'eventport-nats-'));
    this.port ||= await freePort();
    const args = ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.dir];
    args.push('-P', path.join(this.dir, 'nats.pid'), '-l', path.join(this.dir, 'nats.log'));
    if (this.auth && 'user' in this.auth) args.push('--user', this.auth.user, '--pass', this.auth.pass);
    if (this.auth && 'args' in this.auth) args.push(...this.auth.args);
    if (this.auth && 'config' in this.auth) {
      writeFileSync(path.join(this.dir, 'nats.conf'), this.auth.config);
      args.push('-c', path.join(this.dir, 'nats.conf'));
    }
    const binary = process.env.NATS_SERVER_BIN ?? 'nats-server';
    spawn(binary, args, { detached: true, stdio: 'ignore' })
      .on('error', () => undefined)
      .unref();
    await this.waitUntil(() => this.answers(), 'start');
  }

  async restart(): Promise<void> {
    await run('bash', [path.join(REPO, 'scripts/brokers/restart.sh'), 'nats'], {
      env: { ...process.env, NATS_PORT: String(this.port) },
    });
  }

  async stop(): Promise<void> {
    try {
      process.kill(Number(readFileSync(path.join(this.dir, 'nats.pid'), 'utf8')), 'SIGTERM');
      await this.waitUntil(async () => !(await this.answers()), 'stop');
    } catch {
      // Not running.
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The server's first line is INFO (with JetStream on). */
  private answers(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: this.port });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      // A server shutting down may accept and close without a word: that is "not answering" too.
      socket.setTimeout(1_000, () => done(false));
      socket.once('close', () => done(false));
      socket.once('data', (data) => done(data.toString().startsWith('INFO') && data.includes('"jetstream":true')));
      socket.once('error', () => done(false));
    });
  }

  private async waitUntil(condition: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`nats-server on port ${this.port} did not ${what} within 15 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
