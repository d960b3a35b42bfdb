/**
 * The count and rate line of `tail` on stderr: "received N (R msg/s)" once a second, R over that
 * second. On a terminal the line is rewritten in place (and wiped before each message that goes to
 * the same terminal); elsewhere each report is a line of its own. A final line gives the total and
 * the average rate.
 */
export class TailStats {
  private count = 0;
  private countAtLastTick = 0;
  private lastTick: number;
  private readonly started: number;
  private timer: NodeJS.Timeout | undefined;
  private lineShown = false;
  private readonly interactive: boolean;

  constructor(
    private readonly stderr: NodeJS.WritableStream,
    private readonly intervalMs = 1_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.interactive = (stderr as NodeJS.WriteStream).isTTY === true;
    this.started = this.now();
    this.lastTick = this.started;
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  received(): void {
    this.count++;
  }

  /** Call before writing a message to a terminal the status line is on, so the two never mix. */
  clearLine(): void {
    if (this.interactive && this.lineShown) {
      this.stderr.write('\r\x1b[K');
      this.lineShown = false;
    }
  }

  /** Stops the reports and prints the total. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const seconds = Math.max((this.now() - this.started) / 1_000, 0.001);
    this.clearLine();
    this.stderr.write(`received ${this.count} in ${seconds.toFixed(1)} s (${rate(this.count / seconds)} msg/s)\n`);
  }

  private tick(): void {
    const at = this.now();
    const seconds = Math.max((at - this.lastTick) / 1_000, 0.001);
    const line = `received ${this.count} (${rate((this.count - this.countAtLastTick) / seconds)} msg/s)`;
    this.countAtLastTick = this.count;
    this.lastTick = at;
    if (this.interactive) {
      this.stderr.write(`\r\x1b[K${line}`);
      this.lineShown = true;
    } else {
      this.stderr.write(`${line}\n`);
    }
  }
}

function rate(perSecond: number): string {
  return perSecond >= 100 ? String(Math.round(perSecond)) : perSecond.toFixed(1);
}
