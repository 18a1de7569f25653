import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  AgentCommand,
  AgentMessage,
  Exchanges,
  agentCommandQueue,
  agentInboundRoutingKey,
  agentProtocolMessages,
  dereferenceSchemas,
  inlineJsonSchema,
  parseAgentCommand,
  parseAgentMessage,
} from '@herald/contracts';
import { withGeneratedSchemas } from '../../scripts/asyncapi-schemas';

/*
 * docs/asyncapi.yaml is the agent protocol for agent authors. These tests keep it true to
 * libs/contracts: the payload of each message is exactly the JSON Schema of the zod schema the
 * server validates with, its examples pass that validation, and its names of exchanges, queues
 * and routing keys are the ones the code uses. That it is a valid AsyncAPI 3 document (the
 * official parser, seconds of CPU) is checked in asyncapi-document.int.spec.ts.
 */

const FILE = path.join(__dirname, '..', '..', 'docs', 'asyncapi.yaml');
const text = readFileSync(FILE, 'utf8');

type Json = Record<string, unknown>;
interface RawDocument {
  channels: Record<string, { address: string; messages: Record<string, { $ref: string }>; bindings: Json }>;
  operations: Record<string, { action: 'send' | 'receive'; channel: { $ref: string }; messages: Array<{ $ref: string }> }>;
  components: {
    messages: Record<string, { name: string; payload: Json; examples?: Array<{ name: string; payload: Json }> }>;
    schemas: Record<string, Json>;
    channelBindings: Record<string, Json>;
  };
}
const raw = parseYaml(text) as RawDocument;
const messages = raw.components.messages;

const typesOf = (union: { options: readonly unknown[] }) => union.options.map((o) => String((o as { shape: { type: { value: string } } }).shape.type.value));
const fromAgent = typesOf(AgentMessage);
const toAgent = typesOf(AgentCommand);

const refTarget = (ref: string) => ref.split('/').at(-1)!;

describe('docs/asyncapi.yaml', () => {
  it('has one message per message type of libs/contracts, named by its type, and no other', () => {
    expect(Object.keys(messages).sort()).toEqual([...fromAgent, ...toAgent].sort());
    expect(Object.keys(agentProtocolMessages).sort()).toEqual([...fromAgent, ...toAgent].sort());
    for (const [name, message] of Object.entries(messages)) expect(message.name).toBe(name);
  });

  it.each(Object.keys(agentProtocolMessages) as Array<keyof typeof agentProtocolMessages>)(
    'the payload of %s is the JSON Schema of its zod schema, field by field',
    (type) => {
      const payload = dereferenceSchemas(messages[type]!.payload, raw.components.schemas);
      expect(payload).toEqual(inlineJsonSchema(agentProtocolMessages[type]));
    },
  );

  it('has the components.schemas that npm run docs:asyncapi writes (run it after changing libs/contracts)', () => {
    expect(withGeneratedSchemas(text) === text).toBe(true);
  });

  it('gives only examples that the server accepts', () => {
    let count = 0;
    for (const [type, message] of Object.entries(messages)) {
      expect(message.examples?.length).toBeGreaterThan(0);
      for (const example of message.examples ?? []) {
        const body = JSON.stringify(example.payload);
        const parsed = fromAgent.includes(type)
          ? parseAgentMessage(body, agentInboundRoutingKey(String(example.payload.agentId), type))
          : parseAgentCommand(body);
        expect({ example: `${type}/${example.name}`, ...(parsed.ok ? { ok: true } : { ok: false, detail: parsed.detail }) }).toEqual({
          example: `${type}/${example.name}`,
          ok: true,
        });
        count++;
      }
    }
    expect(count).toBeGreaterThanOrEqual(Object.keys(messages).length);
  });

  it('names the exchanges, queue and routing keys the code uses', () => {
    const channelOf = (message: string) => Object.values(raw.channels).find((c) => Object.values(c.messages).some((m) => refTarget(m.$ref) === message));
    for (const type of fromAgent) {
      const channel = channelOf(type)!;
      expect(channel.address).toBe(agentInboundRoutingKey('{agentId}', type));
      expect(channel.bindings).toEqual({ $ref: '#/components/channelBindings/agentInbound' });
      // The agent publishes it.
      const ops = Object.values(raw.operations).filter((o) => o.messages.some((m) => refTarget(m.$ref) === type));
      expect(ops.map((o) => o.action)).toEqual(['send']);
    }
    expect(raw.components.channelBindings.agentInbound).toMatchObject({ amqp: { is: 'routingKey', exchange: { name: Exchanges.agentInbound, type: 'topic' } } });

    expect(raw.channels.commandQueue).toMatchObject({
      address: agentCommandQueue('{agentId}'),
      bindings: { amqp: { is: 'queue', queue: { name: agentCommandQueue('{agentId}'), exclusive: true, durable: false, autoDelete: true } } },
    });
    expect(raw.channels.commands).toMatchObject({ address: '{agentId}', bindings: { amqp: { is: 'routingKey', exchange: { name: Exchanges.agentOutbound, type: 'topic' } } } });
    for (const type of toAgent) {
      const ops = Object.values(raw.operations).filter((o) => o.messages.some((m) => refTarget(m.$ref) === type));
      expect(ops.map((o) => [o.action, o.channel.$ref])).toEqual([['receive', '#/channels/commandQueue']]);
    }
  });
});
