/**
 * Polls `probe` until it returns something other than undefined/false, or fails with the last
 * value seen. Tests wait on observable state, never on fixed sleeps.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 10_000, intervalMs = 50, what = 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * How long a test lets a process it spawned (a service, the dashboard) take to answer /health:
 * 2–3 s on a quiet machine, many times that on a loaded one. HERALD_TEST_START_TIMEOUT_MS
 * overrides it.
 */
export const DEFAULT_START_TIMEOUT_MS = Number(process.env.HERALD_TEST_START_TIMEOUT_MS ?? 120_000);
