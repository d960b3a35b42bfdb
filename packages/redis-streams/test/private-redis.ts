import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A redis-server of the test's own on a free port, so fault tests restart it instead of the shared
 * Redis. `persistent` turns on the AOF with fsync on every write: a restart then keeps every
 * acknowledged write, as a production setup that must not lose events would. `password` starts it
 * with `--requirepass`.
 */
export class PrivateRedis {
  private dir = '';
  private port = 0;

  constructor(
    private readonly persistent: boolean,
    private readonly password?: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The URL with `password` (default: the server's own) as the default user's. */
  urlWith(password = this.password ?? ''): string {
    return `redis://:${encodeURIComponent(password)}@127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.dir ||= mkdtempSync(path.join(tmpdir(), 'eventport-redis-'));
    this.port ||= await freePort();
    await run('redis-server', [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--daemonize',
      'yes',
      '--save',
      '',
      '--appendonly',
      this.persistent ? 'yes' : 'no',
      '--appendfsync',
      'always',
      '--dir',
      this.dir,
      '--pidfile',
      path.join(this.dir, 'redis.pid'),
      '--logfile',
      path.join(this.dir, 'redis.log'),
      ...(this.password === undefined ? [] : ['--requirepass', this.password]),
    ]);
    await this.waitUntil(async () => (await this.cli('PING')) === 'PONG');
  }

  /** SHUTDOWN (which flushes the AOF), then the same server again on the same port and directory. */
  async restart(): Promise<void> {
    await this.shutdown();
    await this.start();
  }

  /** Stops the server, keeping its directory for start(). */
  async pause(): Promise<void> {
    await this.shutdown();
  }

  /** SIGSTOP freezes the server: connections stay open and nothing answers. SIGCONT resumes it. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    process.kill(Number(readFileSync(path.join(this.dir, 'redis.pid'), 'utf8').trim()), signal);
  }

  async stop(): Promise<void> {
    await this.shutdown();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async shutdown(): Promise<void> {
    await this.cli('SHUTDOWN').catch(() => undefined);
    await this.waitUntil(async () => (await this.cli('PING').catch(() => 'down')) !== 'PONG');
  }

  private async cli(...args: string[]): Promise<string> {
    const auth = this.password === undefined ? [] : ['--no-auth-warning', '-a', this.password];
    const { stdout } = await run('redis-cli', ['-p', String(this.port), ...auth, ...args]);
    return stdout.trim();
  }

  private async waitUntil(condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!(await condition().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not change state in 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
