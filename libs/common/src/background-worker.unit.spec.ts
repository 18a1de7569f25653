import { BackgroundWorker, type BackgroundWorkerOptions } from './background-worker';

/** Counts its passes; the hour-long pause means only start() and wake() cause one. */
class Counting extends BackgroundWorker {
  passes = 0;
  constructor(options: Partial<BackgroundWorkerOptions> = {}) {
    super({ name: 'counting', idleMs: 3_600_000, ...options });
  }
  protected async pass(): Promise<boolean> {
    this.passes++;
    return false;
  }
}

/** Lets pending callbacks run until `until` holds (nothing here waits on a timer: every pause is an hour). */
const settle = async (until: () => boolean) => {
  for (let i = 0; i < 1_000 && !until(); i++) await new Promise((r) => setImmediate(r));
};

describe('BackgroundWorker', () => {
  it('runs a pass when started and again when woken, and none after it stopped', async () => {
    const w = new Counting();
    w.start();
    await settle(() => w.passes === 1);
    w.wake();
    await settle(() => w.passes === 2);
    await w.stop();
    w.wake();
    await settle(() => false);
    expect(w.passes).toBe(2);
  });

  it('does nothing when switched off', async () => {
    const w = new Counting({ enabled: false });
    w.start();
    await settle(() => false);
    await w.stop();
    expect(w.passes).toBe(0);
  });

  it('is woken by its signal while it runs, and unsubscribes when it stops', async () => {
    const listeners = new Set<() => void>();
    const signal = () => listeners.forEach((l) => l());
    const w = new Counting({ wakeOn: (wake) => (listeners.add(wake), () => listeners.delete(wake)) });
    expect(listeners.size).toBe(0);
    w.start();
    await settle(() => w.passes === 1);
    expect(listeners.size).toBe(1);
    signal();
    await settle(() => w.passes === 2);
    expect(w.passes).toBe(2);
    await w.stop();
    expect(listeners.size).toBe(0);
  });

  it('reports a failed pass with its name and carries on', async () => {
    const warnings: object[] = [];
    class Failing extends BackgroundWorker {
      passes = 0;
      constructor() {
        super({ name: 'failing', idleMs: 3_600_000, errorBackoffMs: 3_600_000, logger: { warn: (o) => warnings.push(o) } });
      }
      protected async pass(): Promise<boolean> {
        this.passes++;
        if (this.passes === 1) throw new Error('disk on fire');
        return false;
      }
    }
    const w = new Failing();
    w.start();
    await settle(() => warnings.length === 1);
    w.wake(); // cuts the back-off short: the worker is still running after its failed pass
    await settle(() => w.passes === 2);
    await w.stop();
    expect(warnings).toEqual([{ worker: 'failing', err: 'disk on fire' }]);
    expect(w.passes).toBe(2);
  });
});
