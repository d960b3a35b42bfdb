/** Counts slots; `run` waits for one, so at most `size` tasks run at once. */
export class Semaphore {
  private used = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  get taken(): number {
    return this.used;
  }

  async run<R>(task: () => Promise<R>): Promise<R> {
    if (this.used >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.used += 1;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.used -= 1;
    }
  }
}
