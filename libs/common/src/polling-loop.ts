/**
 * A background loop: runs `pass` again and again until stopped. After a pass that says there is
 * nothing more to do it sleeps `idleMs`, after a failing pass `errorBackoffMs`. wake() cuts the
 * sleep short; a wake() that comes while a pass runs is remembered, so the next sleep is skipped
 * and nothing written meanwhile waits a whole interval.
 */
export class PollingLoop {
  private running = false;
  private loop: Promise<void> | null = null;
  private woken = false;
  private interrupt: (() => void) | null = null;

  constructor(
    private readonly pass: () => Promise<boolean>,
    private readonly options: { idleMs: number; errorBackoffMs?: number; onError: (err: Error) => void },
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the pass in progress, if any. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  wake(): void {
    this.woken = true;
    this.interrupt?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.woken = false;
      let more: boolean;
      try {
        more = await this.pass();
      } catch (err) {
        this.options.onError(err as Error);
        await this.sleep(this.options.errorBackoffMs ?? 1_000);
        continue;
      }
      if (!more) await this.sleep(this.options.idleMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken || !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.interrupt = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interrupt = done;
    });
  }
}
