#!/usr/bin/env node
import { buildProgram } from './program.js';

let interrupt: () => void = () => undefined;
const interrupted = new Promise<void>((resolve) => {
  interrupt = resolve;
});
let signals = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // First Ctrl-C drains and acks what was printed; a second one gives up at once.
    if (++signals > 1) process.exit(130);
    interrupt();
  });
}

buildProgram({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, interrupted })
  .run(process.argv.slice(2))
  .then((code) => process.exit(code));
