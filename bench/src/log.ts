const processStart = performance.now();

/** A progress line on stderr (stdout carries the markdown), stamped with seconds since start. */
export function log(line: string): void {
  process.stderr.write(`[+${((performance.now() - processStart) / 1000).toFixed(1)}s] ${line}\n`);
}

/** The first line of an error's message. */
export function describe(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
}
