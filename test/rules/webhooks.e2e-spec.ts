import { createHmac, timingSafeEqual } from 'node:crypto';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TEST_READ_TOKEN, waitFor } from '@herald/testing';
import { RulesHarness } from '../support/rules-harness';

jest.setTimeout(180_000);

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}
interface Delivery {
  eventId: string;
  event: string;
  rolloutId: string | null;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
}

const SECRET = 'webhook-test-secret-0123456789';

/** What a receiver does with a request: check the signature over `<timestamp>.<body>`. */
function signedBy(secret: string, r: Received): boolean {
  const given = String(r.headers['x-herald-signature'] ?? '');
  const expected = `sha256=${createHmac('sha256', secret).update(`${r.headers['x-herald-timestamp']}.${r.body}`).digest('hex')}`;
  return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

/**
 * Webhooks, with a real HTTP receiver: a rollout's start, pause (by an admin and by the error
 * threshold), resume and completion are POSTed, signed with the webhook's secret; a receiver that
 * fails is tried again with back-off, and every attempt is recorded.
 */
describe('webhooks', () => {
  const h = new RulesHarness();
  let server: Server;
  let url: string;
  const received: Received[] = [];
  /**
   * The receiver answers 500 to this many requests for this event first (then 204). Only that
   * event's: a later event may arrive while it is being retried, and must not take its failures.
   */
  let failFirst = { event: '', times: 0 };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const fails = failFirst.times > 0 && req.headers['x-herald-event'] === failFirst.event;
        const answered = fails ? 500 : 204;
        if (fails) failFirst.times--;
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
        res.writeHead(answered).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/herald`;
    await h.start({ ROLLOUT_GUARD_INTERVAL_MS: '300', WEBHOOK_RETRY_DELAY_MS: '300', WEBHOOK_POLL_INTERVAL_MS: '100', WEBHOOK_MAX_ATTEMPTS: '3' });
  });
  afterAll(async () => {
    await h.stop();
    await new Promise((r) => server.close(r));
  });

  const api = <T>(method: string, path: string, body?: unknown, token?: string) => h.system.http<T>('notification-dispatch', method, path, body, token);
  const deliveries = async (webhookId: string) => (await api<{ deliveries: Delivery[] }>('GET', `/webhooks/${webhookId}/deliveries`)).body.deliveries;
  const bodies = () => received.filter((r) => r.answered === 204).map((r) => JSON.parse(r.body) as { id: string; type: string; occurredAt: string; rollout: { rolloutId: string; component: unknown; cause: unknown }; data: Record<string, unknown> });

  it('tells a rollout’s life to a webhook, signed, retrying a receiver that fails, and records every attempt', async () => {
    // Refusals first: bad URL, short secret, unknown event, read-only token.
    expect((await api('POST', '/webhooks', { url: 'ftp://example.com/x', secret: SECRET })).status).toBe(400);
    expect((await api('POST', '/webhooks', { url, secret: 'short' })).status).toBe(400);
    expect((await api('POST', '/webhooks', { url, secret: SECRET, events: ['rollout.exploded'] })).status).toBe(400);
    expect((await api('POST', '/webhooks', { url, secret: SECRET }, TEST_READ_TOKEN)).status).toBe(403);

    const added = await api<{ webhookId: string; url: string; events: string[]; createdBy: string }>('POST', '/webhooks', { url, secret: SECRET, description: 'ops chat' });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ url, createdBy: 'tester', events: ['rollout.started', 'rollout.paused', 'rollout.resumed', 'rollout.aborted', 'rollout.canary-passed', 'rollout.promoted', 'rollout.completed'] });
    expect(JSON.stringify(added.body)).not.toContain(SECRET);
    const { webhookId } = added.body;

    // The receiver fails the start twice: it is delivered on the third attempt.
    failFirst = { event: 'rollout.started', times: 2 };
    const type = 'hook-pattern';
    await h.settings({ notifyOnDownload: true, scanAfterUpdate: false, ackTimeoutSeconds: 2, resendIntervalSeconds: 1, maxAttempts: 20, updateRetries: 0, rolloutErrorThresholdPercent: 0 });
    const mute = await h.agent('hook-mute', [{ type, version: '1.0' }], { acknowledge: false });
    const fine = await h.agent('hook-fine', [{ type, version: '1.0' }]);
    const { rolloutId } = await h.publish(type, '2.0');
    await h.waitForEntry(fine.id, (e) => e.type === 'UpdateCompleted', 'the healthy agent to update');
    expect((await api('POST', `/rollouts/${rolloutId}/pause`, { reason: 'looking into it' })).status).toBe(200);
    expect((await api('POST', `/rollouts/${rolloutId}/resume`)).status).toBe(200);
    // The silent agent's notification is closed by the abort: the rollout completes.
    expect((await api('POST', `/rollouts/${rolloutId}/abort`, { reason: 'done with it' })).status).toBe(200);
    await waitFor(async () => (bodies().length === 5 ? true : undefined), { what: 'the five events to be delivered', timeoutMs: 30_000 });

    // Deliveries are independent (a retried one arrives after later events): in the order they happened, by occurredAt.
    const got = bodies().sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
    expect(got.map((b) => b.type)).toEqual(['rollout.started', 'rollout.paused', 'rollout.resumed', 'rollout.aborted', 'rollout.completed']);
    expect(got.every((b) => b.rollout.rolloutId === rolloutId)).toBe(true);
    expect(got[0]!.rollout.component).toEqual({ type, version: '2.0', pinned: false });
    expect(got[1]!.data).toMatchObject({ by: 'tester', reason: 'admin', note: 'looking into it' });
    expect(got[4]!.data).toMatchObject({ outcomes: { targeted: 2, updated: 1, aborted: 1, failed: 0 } });
    // Every request is signed with the secret, and names its event and delivery.
    for (const r of received) {
      expect(signedBy(SECRET, r)).toBe(true);
      expect(signedBy('some-other-secret-0123456789', r)).toBe(false);
      const body = JSON.parse(r.body) as { id: string; type: string };
      expect(r.headers).toMatchObject({ 'content-type': 'application/json', 'x-herald-event': body.type, 'x-herald-delivery': body.id });
    }
    // The start was tried three times, with the same delivery id; the attempts are on record.
    const starts = received.filter((r) => r.headers['x-herald-event'] === 'rollout.started');
    expect(starts.map((r) => r.answered)).toEqual([500, 500, 204]);
    expect(new Set(starts.map((r) => r.headers['x-herald-delivery'])).size).toBe(1);
    const recorded = await deliveries(webhookId);
    expect(recorded.find((d) => d.event === 'rollout.started')).toMatchObject({ status: 'delivered', attempts: 3, lastStatus: 204, lastError: null });
    expect(recorded.every((d) => d.status === 'delivered')).toBe(true);
    expect((await api<{ webhooks: Array<{ webhookId: string; deliveries: Record<string, number> }> }>('GET', '/webhooks')).body.webhooks).toEqual([
      expect.objectContaining({ webhookId, deliveries: { pending: 0, delivered: 5, failed: 0 } }),
    ]);
    await waitFor(async () => (((await h.rollout(rolloutId)) as unknown as { completedAt: string | null }).completedAt ? true : undefined), { what: 'the rollout to show when it completed' });
    void mute;

    // The error threshold pauses the next rollout by itself: that is told too, with the numbers.
    await h.settings({ rolloutErrorThresholdPercent: 50, rolloutErrorThresholdMinFinished: 1 });
    const broken = await h.agent('hook-broken', [{ type: 'hook-engine', version: '1.0' }], { failInstalls: 5 });
    // The threshold measures rollouts still in progress: this one keeps it so.
    await h.agent('hook-silent', [{ type: 'hook-engine', version: '1.0' }], { acknowledge: false });
    const engine = await h.publish('hook-engine', '2.0');
    await h.waitForEntry(broken.id, (e) => e.type === 'UpdateFailed', 'the update to fail');
    await waitFor(async () => (bodies().some((b) => b.type === 'rollout.paused' && b.rollout.rolloutId === engine.rolloutId) ? true : undefined), {
      what: 'the threshold pause to be delivered',
      timeoutMs: 30_000,
    });
    expect(bodies().find((b) => b.type === 'rollout.paused' && b.rollout.rolloutId === engine.rolloutId)!.data).toMatchObject({ by: 'herald', reason: 'error-threshold', failed: 1, finished: 1, thresholdPercent: 50 });

    // A receiver that never recovers: the delivery fails after WEBHOOK_MAX_ATTEMPTS, with the last answer.
    failFirst = { event: 'rollout.aborted', times: 1_000 };
    expect((await api('POST', `/rollouts/${engine.rolloutId}/abort`)).status).toBe(200);
    await waitFor(async () => ((await deliveries(webhookId)).some((d) => d.event === 'rollout.aborted' && d.rolloutId === engine.rolloutId && d.status === 'failed') ? true : undefined), {
      what: 'the abort’s delivery to fail for good',
      timeoutMs: 30_000,
    });
    expect((await deliveries(webhookId)).find((d) => d.event === 'rollout.aborted' && d.rolloutId === engine.rolloutId)).toMatchObject({ attempts: 3, lastStatus: 500, lastError: 'HTTP 500' });
    failFirst = { event: '', times: 0 };

    // Removed: listed no more, nothing more sent, a second removal is a 404.
    expect((await api('DELETE', `/webhooks/${webhookId}`, undefined, TEST_READ_TOKEN)).status).toBe(403);
    expect((await api('DELETE', `/webhooks/${webhookId}`)).status).toBe(200);
    expect((await api<{ webhooks: unknown[] }>('GET', '/webhooks')).body.webhooks).toEqual([]);
    expect((await api('DELETE', `/webhooks/${webhookId}`)).status).toBe(404);
    const before = received.length;
    await h.publish('hook-pattern', '3.0');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(received.length).toBe(before);
  });
});
