import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const REGISTER_TS = path.join(__dirname, '..', '..', '..', 'scripts', 'register-ts.js');

export interface Worker {
  child: ChildProcess;
  /** Resolves with the signal that ended the process (null: it exited by itself). */
  exited: Promise<NodeJS.Signals | null>;
  /** The next JSON line the worker writes to stdout; rejects if it exits or stays silent for timeoutMs. */
  nextMessage<T>(timeoutMs?: number): Promise<T>;
}

/** Runs test/fixtures/<fixture> (TypeScript, no build) in a child node process. */
export function startWorker(fixture: string, env: Record<string, string>): Worker {
  const child = spawn(process.execPath, ['-r', REGISTER_TS, path.join(__dirname, 'fixtures', fixture)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let exitedWith: string | undefined;
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => {
      exitedWith = signal ?? `code ${code}`;
      wake();
      resolve(signal);
    }),
  );
  const messages: unknown[] = [];
  let wake = () => {};
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    messages.push(JSON.parse(line));
    wake();
  });
  return {
    child,
    exited,
    async nextMessage<T>(timeoutMs = 30_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      while (messages.length === 0) {
        if (exitedWith) throw new Error(`${fixture} exited (${exitedWith}) before writing a message`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${fixture} wrote nothing within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return messages.shift() as T;
    },
  };
}
