import { BaseRpcContext } from '@nestjs/microservices';
import type { InboundMessage } from '../amqp-client';

/** What a handler can know of the delivery besides its validated payload: `@Ctx() ctx: HeraldContext`. */
export class HeraldContext extends BaseRpcContext<[InboundMessage]> {
  /** The delivery as the broker gave it (body, properties, headers). */
  get message(): InboundMessage {
    return this.args[0];
  }

  get queue(): string {
    return this.message.queue;
  }

  /** The routing key it was first published with (also after a delayed retry). */
  get routingKey(): string {
    return this.message.routingKey;
  }

  get headers(): Record<string, unknown> {
    return this.message.headers;
  }

  get messageId(): string | undefined {
    return this.message.messageId;
  }

  get correlationId(): string | undefined {
    return this.message.correlationId;
  }

  /** 1 on the first delivery; raised each time the message came back through a delayed retry. */
  get attempt(): number {
    return this.message.attempt;
  }

  /** The broker delivered it before and it was not settled (a consumer crash or a lost channel). */
  get redelivered(): boolean {
    return this.message.redelivered;
  }
}

/** The deliveries behind a batch handler's payloads, in the same order: `@Ctx() ctx: HeraldBatchContext`. */
export class HeraldBatchContext extends BaseRpcContext<[readonly InboundMessage[]]> {
  get messages(): readonly InboundMessage[] {
    return this.args[0];
  }
}
