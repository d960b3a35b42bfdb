#!/usr/bin/env node
import { EXIT } from './exit.js';

let interrupt: () => void = () => undefined;
const interrupted = new Promise<void>((resolve) => {
  interrupt = resolve;
});
// By convention a process stopped by a signal exits 128 + its number: 130 for SIGINT, 143 for SIGTERM.
const SIGNAL_EXIT = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.terminated } as const;
let stoppedBy: keyof typeof SIGNAL_EXIT | 'EPIPE' | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // The first signal drains and acks what was printed; a second one gives up at once.
    if (stoppedBy) process.exit(SIGNAL_EXIT[signal]);
    stoppedBy = signal;
    interrupt();
  });
}
// `eventport tail t | head -n 3`: once the reader is gone, stop as after Ctrl-C, and exit 0.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  stoppedBy ??= 'EPIPE';
  interrupt();
});

// The program (commander, zod, @eventport/core) loads only now, after the handlers are in place: on a busy
// machine loading takes a while, and a signal in that while still ends with the exit codes above.
const { buildProgram } = require('./program.js') as typeof import('./program.js');
buildProgram({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, interrupted })
  .run(process.argv.slice(2))
  .then((code) => {
    if (code !== EXIT.interrupted || stoppedBy === undefined) process.exit(code);
    process.exit(stoppedBy === 'EPIPE' ? EXIT.ok : SIGNAL_EXIT[stoppedBy]);
  });
