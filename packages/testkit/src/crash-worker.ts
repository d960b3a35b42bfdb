/**
 * Child process of the consumer-crash case: consumes one topic and prints "handled <id>" after each
 * handler finishes, until the parent SIGKILLs it. Its configuration comes from the environment, the
 * way a deployed service's would.
 */
import { createAdapter } from '@eventport/core';
import type { CrashWorkerTask } from './crash.js';

async function main(): Promise<void> {
  const task = JSON.parse(process.env.EVENTPORT_CRASH_TASK ?? '') as CrashWorkerTask;
  const adapter = await createAdapter(process.env.EVENT_TYPE, task.overrides);
  await adapter.subscribe(
    task.topic,
    async (message) => {
      await new Promise((resolve) => setTimeout(resolve, task.handlerDelayMs));
      process.stdout.write(`handled ${message.id}\n`);
    },
    { group: task.group, fromBeginning: task.fromBeginning, concurrency: 8 },
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`crash worker failed: ${String(error)}\n`);
  process.exit(1);
});
