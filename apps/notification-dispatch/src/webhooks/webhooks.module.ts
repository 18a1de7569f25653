import { Module } from '@nestjs/common';
import { WebhookOutbox } from './webhook-outbox';
import { WebhookSender } from './webhook-sender.service';
import { WebhooksController } from './webhooks.controller';

/** Webhooks: subscriptions (admin API), the outbox rollout events fill, the sender. */
@Module({ controllers: [WebhooksController], providers: [WebhookOutbox, WebhookSender], exports: [WebhookOutbox] })
export class WebhooksModule {}
