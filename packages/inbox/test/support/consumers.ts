import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { ConsumerTask } from '../fixtures/consumer';

const REGISTER_TS = path.resolve(__dirname, '../../../../scripts/register-ts.js');
const CONSUMER = path.resolve(__dirname, '../fixtures/consumer.ts');

export interface ConsumerProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<NodeJS.Signals | number | null>;
  /** Deliveries this process reported. */
  deliveries: number;
  /** Messages this process committed or dropped as duplicates. */
  done: number;
}

/**
 * Consumer processes of one scenario (test/fixtures/consumer.ts) and what they report: deliveries
 * (what the broker handed out, duplicates included) and duplicates the inbox dropped.
 */
export class Consumers {
  readonly processes: ConsumerProcess[] = [];
  deliveries = 0;
  duplicatesDropped = 0;
  lastDeliveryAt = Date.now();
  private readonly stderrTail: string[] = [];
  private killArmed: ((victim: ConsumerProcess) => void) | undefined;

  start(name: string, task: Omit<ConsumerTask, 'worker'>, env: Record<string, string>): ConsumerProcess {
    const child = spawn(process.execPath, ['-r', REGISTER_TS, CONSUMER], {
      env: { ...process.env, ...env, INBOX_CRASH_TASK: JSON.stringify({ ...task, worker: name }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const consumer: ConsumerProcess = {
      name,
      child,
      exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code))),
      deliveries: 0,
      done: 0,
    };
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const [kind] = line.split(' ');
      if (kind === 'delivered') {
        consumer.deliveries++;
        this.deliveries++;
        this.lastDeliveryAt = Date.now();
      } else if (kind === 'done') {
        consumer.done++;
        if (this.killArmed) {
          // Right after its COMMIT and before its ack: the message it just committed must come again.
          child.kill('SIGKILL');
          const armed = this.killArmed;
          this.killArmed = undefined;
          armed(consumer);
        }
      } else if (kind === 'duplicate') {
        this.duplicatesDropped++;
      }
    });
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      this.stderrTail.push(`[${name}] ${line}`);
      if (this.stderrTail.length > 40) this.stderrTail.shift();
    });
    this.processes.push(consumer);
    return consumer;
  }

  get done(): number {
    return this.processes.reduce((sum, each) => sum + each.done, 0);
  }

  /** What the processes wrote to stderr lately, for failure messages. */
  get diagnostics(): string {
    return this.stderrTail.join('\n');
  }

  /** Throws if a process exited on its own (it failed), with its stderr. */
  assertAlive(consumer: ConsumerProcess): void {
    if (consumer.child.exitCode !== null) {
      throw new Error(`consumer ${consumer.name} exited with code ${consumer.child.exitCode}:\n${this.diagnostics}`);
    }
  }

  /**
   * SIGKILLs whichever consumer reports its next commit, the moment it does (the line handler runs
   * while that consumer waits before acking), and resolves with it once it is gone.
   */
  async killAtNextCommit(timeoutMs = 60_000): Promise<ConsumerProcess> {
    let timer: NodeJS.Timeout | undefined;
    const victim = await new Promise<ConsumerProcess>((resolve, reject) => {
      this.killArmed = resolve;
      timer = setTimeout(() => {
        this.killArmed = undefined;
        reject(new Error(`no consumer committed a message within ${timeoutMs} ms:\n${this.diagnostics}`));
      }, timeoutMs);
    });
    clearTimeout(timer);
    await victim.exited;
    return victim;
  }

  async kill(consumer: ConsumerProcess): Promise<void> {
    consumer.child.kill('SIGKILL');
    await consumer.exited;
  }

  /** SIGTERM: the consumer drains (running handlers finish and are acked) and exits. */
  async stop(consumer: ConsumerProcess, timeoutMs = 60_000): Promise<void> {
    if (consumer.child.exitCode !== null || consumer.child.signalCode !== null) return;
    consumer.child.kill('SIGTERM');
    const timer = setTimeout(() => consumer.child.kill('SIGKILL'), timeoutMs);
    await consumer.exited;
    clearTimeout(timer);
  }

  async killAll(): Promise<void> {
    await Promise.all(
      this.processes
        .filter((each) => each.child.exitCode === null && each.child.signalCode === null)
        .map((each) => this.kill(each)),
    );
  }
}
