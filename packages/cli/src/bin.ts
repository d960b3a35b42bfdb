#!/usr/bin/env node
import { buildProgram, EXIT } from './program.js';

let interrupt: () => void = () => undefined;
const interrupted = new Promise<void>((resolve) => {
  interrupt = resolve;
});
// By convention a process stopped by a signal exits 128 + its number: 130 for SIGINT, 143 for SIGTERM.
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
let stoppedBy: keyof typeof SIGNAL_EXIT | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // The first signal drains and acks what was printed; a second one gives up at once.
    if (stoppedBy) process.exit(SIGNAL_EXIT[signal]);
    stoppedBy = signal;
    interrupt();
  });
}

buildProgram({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, interrupted })
  .run(process.argv.slice(2))
  .then((code) => process.exit(code === EXIT.interrupted && stoppedBy ? SIGNAL_EXIT[stoppedBy] : code));
