import { type Decider, type Event, unreachable } from '@herald/domain';

/*
 * One stream per webhook ("webhook-<id>"): an admin added it (where, which events, who) and
 * perhaps removed it. Its secret is not in the events (they are kept for good): it lives in
 * webhook_secrets, written in the same transaction and deleted with the webhook.
 */

/** What a webhook can be told: a rollout's life, as it happens. */
export const WEBHOOK_EVENTS = ['rollout.started', 'rollout.paused', 'rollout.resumed', 'rollout.aborted', 'rollout.canary-passed', 'rollout.promoted', 'rollout.completed'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

export type WebhookAdded = Event<'WebhookAdded', { webhookId: string; url: string; events: WebhookEventType[]; description: string | null; by: string; at: string }>;
export type WebhookRemoved = Event<'WebhookRemoved', { webhookId: string; by: string; at: string }>;
export type WebhookEvent = WebhookAdded | WebhookRemoved;

export interface WebhookState {
  added: boolean;
  removed: boolean;
}

export type WebhookCommand =
  | { type: 'AddWebhook'; webhookId: string; url: string; events: WebhookEventType[]; description: string | null; by: string; now: Date }
  | { type: 'RemoveWebhook'; webhookId: string; by: string; now: Date };

export class WebhookNotFoundError extends Error {}

export const webhookStreamId = (webhookId: string): string => `webhook-${webhookId}`;

export const webhookDecider: Decider<WebhookState, WebhookCommand, WebhookEvent> = {
  initialState: () => ({ added: false, removed: false }),
  evolve(state, event) {
    switch (event.type) {
      case 'WebhookAdded':
        return { ...state, added: true };
      case 'WebhookRemoved':
        return { ...state, removed: true };
      default:
        return unreachable(event, 'event');
    }
  },
  decide(command, state) {
    const at = command.now.toISOString();
    switch (command.type) {
      case 'AddWebhook': {
        if (state.added) return [];
        const { webhookId, url, events, description, by } = command;
        return [{ type: 'WebhookAdded', data: { webhookId, url, events, description, by, at } }];
      }
      case 'RemoveWebhook':
        if (!state.added) throw new WebhookNotFoundError(`no webhook ${command.webhookId}`);
        return state.removed ? [] : [{ type: 'WebhookRemoved', data: { webhookId: command.webhookId, by: command.by, at } }];
      default:
        return unreachable(command, 'command');
    }
  },
};
