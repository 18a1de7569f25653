import { PollingLoop } from './polling-loop';

describe('PollingLoop', () => {
  it('runs again at once when woken during a pass, instead of sleeping the interval', async () => {
    let passes = 0;
    let release!: () => void;
    const firstPass = new Promise<void>((r) => (release = r));
    const loop = new PollingLoop(
      async () => {
        passes++;
        if (passes === 1) await firstPass;
        return false;
      },
      { idleMs: 60_000, onError: () => undefined },
    );
    loop.start();
    await new Promise((r) => setImmediate(r));
    loop.wake(); // arrives while pass 1 runs
    release();
    for (let i = 0; i < 20 && passes < 2; i++) await new Promise((r) => setImmediate(r));
    expect(passes).toBe(2);
    await loop.stop();
  });

  it('keeps going after a failing pass and reports the error', async () => {
    const errors: string[] = [];
    let passes = 0;
    const loop = new PollingLoop(
      async () => {
        passes++;
        if (passes === 1) throw new Error('boom');
        return false;
      },
      { idleMs: 60_000, errorBackoffMs: 1, onError: (e) => errors.push(e.message) },
    );
    loop.start();
    // Waits for the second pass itself (the 1 ms back-off is a timer: slow on a loaded machine).
    for (const deadline = Date.now() + 10_000; passes < 2 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 2));
    await loop.stop();
    expect(errors).toEqual(['boom']);
    expect(passes).toBe(2);
  });
});
