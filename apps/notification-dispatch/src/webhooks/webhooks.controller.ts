import { randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { redactUrl } from '@herald/common';
import { CommandHandler, Database } from '@herald/event-store';
import { ApiErrors, CurrentPrincipal, type Principal } from '@herald/platform';
import { WEBHOOK_EVENTS, WebhookNotFoundError, webhookDecider, webhookStreamId } from './webhook.decider';

const NewWebhook = z.strictObject({
  url: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .describe('Where to POST the events (http or https). Readable with a read token: keep secrets out of it, in `secret`.'),
  secret: z.string().min(16).max(256).describe('The HMAC-SHA256 key the requests are signed with (X-Herald-Signature); never shown again'),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length).optional().describe(`Which events to send (default: all of ${WEBHOOK_EVENTS.join(', ')})`),
  description: z.string().trim().min(1).max(200).optional(),
});
class NewWebhookDto extends createZodDto(NewWebhook) {}

const Webhook = z.object({
  webhookId: z.uuid(),
  url: z.string().describe('The URL, with any password in it masked'),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  description: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  deliveries: z.object({ pending: z.number().int(), delivered: z.number().int(), failed: z.number().int() }),
});
class WebhookDto extends createZodDto(Webhook) {}
class WebhookListDto extends createZodDto(z.object({ webhooks: z.array(Webhook) })) {}

const Delivery = z.object({
  deliveryId: z.string(),
  eventId: z.uuid().describe('X-Herald-Delivery: the same on every attempt'),
  event: z.enum(WEBHOOK_EVENTS),
  rolloutId: z.uuid().nullable(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  lastStatus: z.number().int().nullable().describe('HTTP status of the last attempt; null when it got no answer'),
  lastError: z.string().nullable(),
  nextAttemptAt: z.string().nullable().describe('While pending: when it is tried next'),
  createdAt: z.string(),
  deliveredAt: z.string().nullable(),
});
class DeliveriesDto extends createZodDto(z.object({ webhookId: z.uuid(), deliveries: z.array(Delivery) })) {}

const Limit = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });
class LimitDto extends createZodDto(Limit) {}

interface Row {
  webhook_id: string;
  url: string;
  events: Array<(typeof WEBHOOK_EVENTS)[number]>;
  description: string | null;
  created_by: string;
  created_at: Date;
  pending: string;
  delivered: string;
  failed: string;
}

const toWebhook = (r: Row) => ({
  webhookId: r.webhook_id,
  url: redactUrl(r.url),
  events: r.events,
  description: r.description,
  createdBy: r.created_by,
  createdAt: r.created_at,
  deliveries: { pending: Number(r.pending), delivered: Number(r.delivered), failed: Number(r.failed) },
});

const SELECT = `SELECT w.*, count(d.*) FILTER (WHERE d.status = 'pending') AS pending, count(d.*) FILTER (WHERE d.status = 'delivered') AS delivered,
                       count(d.*) FILTER (WHERE d.status = 'failed') AS failed
                  FROM webhooks w LEFT JOIN webhook_deliveries d USING (webhook_id)`;

/** Webhooks: an HTTP endpoint told of every rollout's start, pauses (thresholds included), resume, abort, canary, promotion and completion. */
@ApiTags('webhooks')
@Controller('webhooks')
export class WebhooksController {
  constructor(
    private readonly db: Database,
    private readonly commands: CommandHandler,
  ) {}

  @Get()
  @ApiOperation({ summary: 'The webhooks (not removed), with how many deliveries are pending, delivered and failed' })
  @ApiOkResponse({ type: WebhookListDto })
  @ApiErrors()
  async list() {
    const rows = await this.db.session((sql) => sql.rows<Row>(`${SELECT} WHERE w.removed_at IS NULL GROUP BY w.webhook_id ORDER BY w.created_at`));
    return { webhooks: rows.map(toWebhook) };
  }

  @Post()
  @ApiOperation({ summary: 'Add a webhook: rollout events are POSTed to it, signed with the secret (docs/webhooks.md)' })
  @ApiCreatedResponse({ type: WebhookDto })
  @ApiErrors(400, 403)
  async add(@Body() body: NewWebhookDto, @CurrentPrincipal() who: Principal) {
    const { url, secret, events, description } = body as z.infer<typeof NewWebhook>;
    const webhookId = randomUUID();
    await this.commands.handle(
      webhookDecider,
      webhookStreamId(webhookId),
      { type: 'AddWebhook', webhookId, url, events: events ?? [...WEBHOOK_EVENTS], description: description ?? null, by: who.name, now: new Date() },
      {
        inTransaction: async ({ events: added, tx }) => {
          for (const e of added) {
            if (e.type !== 'WebhookAdded') continue;
            await tx.exec(`INSERT INTO webhooks (webhook_id, url, events, description, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
              webhookId,
              e.data.url,
              e.data.events,
              e.data.description,
              e.data.by,
              e.data.at,
            ]);
            await tx.exec(`INSERT INTO webhook_secrets (webhook_id, secret) VALUES ($1, $2)`, [webhookId, secret]);
          }
        },
      },
    );
    return this.find(webhookId);
  }

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({ summary: 'Remove a webhook: nothing more is sent to it (its pending deliveries fail), its secret is deleted' })
  @ApiOkResponse({ type: WebhookDto })
  @ApiErrors(400, 403, 404)
  async remove(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    const webhookId = z.uuid().safeParse(id).success ? id : null;
    if (!webhookId) throw new NotFoundException(`no webhook ${id}`);
    const before = await this.find(webhookId);
    try {
      await this.commands.handle(
        webhookDecider,
        webhookStreamId(webhookId),
        { type: 'RemoveWebhook', webhookId, by: who.name, now: new Date() },
        {
          inTransaction: async ({ events, tx }) => {
            for (const e of events) {
              if (e.type !== 'WebhookRemoved') continue;
              await tx.exec(`UPDATE webhooks SET removed_at = $2, removed_by = $3 WHERE webhook_id = $1`, [webhookId, e.data.at, e.data.by]);
              await tx.exec(`DELETE FROM webhook_secrets WHERE webhook_id = $1`, [webhookId]);
              await tx.exec(`UPDATE webhook_deliveries SET status = 'failed', last_error = 'the webhook was removed' WHERE webhook_id = $1 AND status = 'pending'`, [webhookId]);
            }
          },
        },
      );
    } catch (err) {
      if (err instanceof WebhookNotFoundError) throw new NotFoundException(err.message);
      throw err;
    }
    return before;
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: "A webhook's deliveries, newest first: the event, status, attempts, the last answer" })
  @ApiOkResponse({ type: DeliveriesDto })
  @ApiErrors(400, 404)
  async deliveries(@Param('id') id: string, @Query() query: LimitDto) {
    const { limit } = query as z.infer<typeof Limit>;
    await this.find(id, true);
    const rows = await this.db.session((sql) =>
      sql.rows<{
        delivery_id: string;
        event_id: string;
        event_type: (typeof WEBHOOK_EVENTS)[number];
        rollout_id: string | null;
        status: 'pending' | 'delivered' | 'failed';
        attempts: number;
        last_status: number | null;
        last_error: string | null;
        next_attempt_at: Date;
        created_at: Date;
        delivered_at: Date | null;
      }>(`SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY delivery_id DESC LIMIT $2`, [id, limit]),
    );
    return {
      webhookId: id,
      deliveries: rows.map((r) => ({
        deliveryId: String(r.delivery_id),
        eventId: r.event_id,
        event: r.event_type,
        rolloutId: r.rollout_id,
        status: r.status,
        attempts: r.attempts,
        lastStatus: r.last_status,
        lastError: r.last_error,
        nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
        createdAt: r.created_at,
        deliveredAt: r.delivered_at,
      })),
    };
  }

  private async find(id: string, includeRemoved = false) {
    if (!z.uuid().safeParse(id).success) throw new NotFoundException(`no webhook ${id}`);
    const row = await this.db.session((sql) => sql.one<Row>(`${SELECT} WHERE w.webhook_id = $1 ${includeRemoved ? '' : 'AND w.removed_at IS NULL'} GROUP BY w.webhook_id`, [id]));
    if (!row) throw new NotFoundException(`no webhook ${id}`);
    return toWebhook(row);
  }
}
