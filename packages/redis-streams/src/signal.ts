/** Wakes every waiter when something changed; a waiter registered before the change never misses it. */
export class Signal {
  private waiters: Array<() => void> = [];

  /** Resolves on the next notify(), or after `timeoutMs` when given. */
  wait(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((waiter) => waiter !== wake);
          resolve();
        }, timeoutMs);
      }
      this.waiters.push(wake);
    });
  }

  notify(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
