import { Body, Controller, HttpCode, Inject, Post, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Counter } from 'prom-client';
import { Public, ServiceConfig, ServiceMetrics } from '@herald/platform';
import type { AgentPresenceConfig } from '../config';
import { AgentAdmission } from './agent-admission';
import { resourceAllowed, topicAllowed } from './broker-access';

type Form = Record<string, string | undefined>;

/** The vhost named by a broker URL ("/" when it names none). */
export function vhostOf(url: string): string {
  const path = new URL(url).pathname;
  return path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
}

/**
 * RabbitMQ's HTTP authentication backend (rabbitmq_auth_backend_http, `auth_http.http_method =
 * post`): the broker asks here whether an agent may log in, use the vhost, a queue or exchange,
 * or a routing key, and gets `allow` or `deny`. Only agents reach it: the services' own users are
 * the broker's internal ones (`auth_backends.1 = internal`). Open like /health (the broker has no
 * token to send), so agent-presence's port belongs on the network the broker shares with it, not
 * on the agents' (docs/security.md). Not part of the admin API.
 */
@ApiExcludeController()
@Controller('auth')
export class BrokerAuthController {
  private readonly vhost: string;
  private decisions!: Counter<'check' | 'decision'>;

  constructor(
    private readonly admission: AgentAdmission,
    @Inject(ServiceConfig) config: AgentPresenceConfig,
    metrics: ServiceMetrics,
  ) {
    this.vhost = vhostOf(config.RABBITMQ_URL.split(',')[0]!.trim());
    this.decisions = metrics.counter('herald_broker_auth_decisions_total', "Answers to the broker's authorisation questions about agents, by check (vhost, resource, topic) and decision", ['check', 'decision']);
  }

  @Post('user')
  @Public()
  @HttpCode(200)
  async user(@Body() form: Form, @Res() res: Response): Promise<void> {
    const result = await this.admission.login(form.username ?? '', form.password ?? '');
    answer(res, result === 'allowed');
  }

  @Post('vhost')
  @Public()
  @HttpCode(200)
  vhostAccess(@Body() form: Form, @Res() res: Response): void {
    this.answer(res, 'vhost', form.vhost === this.vhost);
  }

  @Post('resource')
  @Public()
  @HttpCode(200)
  resource(@Body() form: Form, @Res() res: Response): void {
    this.answer(res, 'resource', form.vhost === this.vhost && resourceAllowed(form.username ?? '', { resource: form.resource ?? '', name: form.name ?? '', permission: form.permission ?? '' }));
  }

  @Post('topic')
  @Public()
  @HttpCode(200)
  topic(@Body() form: Form, @Res() res: Response): void {
    this.answer(
      res,
      'topic',
      form.vhost === this.vhost &&
        topicAllowed(form.username ?? '', { resource: form.resource ?? '', name: form.name ?? '', permission: form.permission ?? '', routingKey: form.routing_key ?? '' }),
    );
  }

  private answer(res: Response, check: 'vhost' | 'resource' | 'topic', allowed: boolean): void {
    this.decisions.inc({ check, decision: allowed ? 'allow' : 'deny' });
    answer(res, allowed);
  }
}

function answer(res: Response, allowed: boolean): void {
  res.status(200).type('text/plain').send(allowed ? 'allow' : 'deny');
}
