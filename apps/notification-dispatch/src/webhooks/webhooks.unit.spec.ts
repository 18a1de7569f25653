import { createHmac } from 'node:crypto';
import { DeciderSpec } from '@herald/testing';
import { WebhookNotFoundError, webhookDecider } from './webhook.decider';
import { webhookRetryDelayMs, webhookSignature } from './webhook-sender.service';

const now = new Date('2026-12-01T08:00:00.000Z');
const at = now.toISOString();

describe('webhooks', () => {
  it('signs `<timestamp>.<body>` with HMAC-SHA256 of the secret, as a receiver checks it', () => {
    const body = '{"type":"rollout.paused"}';
    const expected = createHmac('sha256', 'a-secret-of-16-chars').update(`1764576000.${body}`).digest('hex');
    expect(webhookSignature('a-secret-of-16-chars', 1764576000, body)).toBe(`sha256=${expected}`);
    expect(webhookSignature('another-secret-16ch', 1764576000, body)).not.toBe(`sha256=${expected}`);
  });

  it('waits the delay doubling after each failed attempt, plus up to a fifth at random, at most an hour and a fifth', () => {
    expect([1, 2, 3, 4].map((n) => webhookRetryDelayMs(10_000, n, 0))).toEqual([10_000, 20_000, 40_000, 80_000]);
    expect(webhookRetryDelayMs(10_000, 1, 1)).toBe(12_000);
    expect(webhookRetryDelayMs(10_000, 30, 0)).toBe(3600_000);
  });

  describe('decider', () => {
    const spec = DeciderSpec(webhookDecider);
    const added = { type: 'WebhookAdded' as const, data: { webhookId: 'w1', url: 'https://hooks.example/h', events: ['rollout.paused' as const], description: null, by: 'alice', at } };

    it('records who added and removed a webhook, each once', () => {
      const add = { type: 'AddWebhook' as const, webhookId: 'w1', url: 'https://hooks.example/h', events: ['rollout.paused' as const], description: null, by: 'alice', now };
      spec.given([]).when(add).then([added]);
      spec.given([added]).when(add).thenNothing();
      const removed = { type: 'WebhookRemoved' as const, data: { webhookId: 'w1', by: 'bob', at } };
      spec.given([added]).when({ type: 'RemoveWebhook', webhookId: 'w1', by: 'bob', now }).then([removed]);
      spec.given([added, removed]).when({ type: 'RemoveWebhook', webhookId: 'w1', by: 'bob', now }).thenNothing();
    });

    it('refuses to remove a webhook that was never added', () => {
      spec.given([]).when({ type: 'RemoveWebhook', webhookId: 'w9', by: 'bob', now }).thenThrows(WebhookNotFoundError);
    });
  });
});
