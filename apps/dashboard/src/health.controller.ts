import { Controller, Get, Inject } from '@nestjs/common';
import { UPSTREAMS } from './tokens';
import type { Upstream } from './upstreams';

/** How long one service's /health may take before the dashboard reports it down. */
const PROBE_TIMEOUT_MS = 2_000;

/**
 * GET /health: 200 whenever the dashboard runs (it has nothing of its own that can fail), with
 * whether each service answers its own /health, so an operator sees at once why the page is
 * empty.
 */
@Controller('health')
export class HealthController {
  constructor(@Inject(UPSTREAMS) private readonly upstreams: readonly Upstream[]) {}

  @Get()
  async check() {
    const results = await Promise.all(this.upstreams.map(async (u) => [u.service, await probe(u.url)] as const));
    return { status: 'ok', services: Object.fromEntries(results) };
  }
}

async function probe(baseUrl: string): Promise<{ status: 'up' | 'down'; detail?: string }> {
  try {
    const res = await fetch(new URL('health', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`), { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return res.ok ? { status: 'up' } : { status: 'down', detail: `HTTP ${res.status}` };
  } catch (err) {
    const cause = (err as Error & { cause?: { code?: string } }).cause;
    return { status: 'down', detail: cause?.code ?? (err as Error).message };
  }
}
