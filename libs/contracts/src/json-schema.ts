import { z } from 'zod';
import { Ack, AppliedComponent, Goodbye, Heartbeat, Hello, MessageRefusedCommand, ScanCommand, ScanResult, UpdateCommand, UpdateResult } from './agent-protocol';
import { AgentId, ComponentTarget, InstalledComponent, Timestamp } from './common';
import { ComponentType, ComponentVersion } from './versions';

/*
 * The agent protocol as JSON Schema (draft-07, the dialect of AsyncAPI's schema objects), for
 * docs/asyncapi.yaml: `npm run docs:asyncapi` writes these into its components.schemas, and a
 * test checks that the document still says what the zod schemas say.
 */

/** Every message of the agent protocol, by its `type`: what agents send, then what they receive. */
export const agentProtocolMessages = {
  hello: Hello,
  heartbeat: Heartbeat,
  goodbye: Goodbye,
  ack: Ack,
  'update-result': UpdateResult,
  'scan-result': ScanResult,
  update: UpdateCommand,
  scan: ScanCommand,
  'message-refused': MessageRefusedCommand,
} as const;

/** The schema name of each message in components.schemas. */
export const agentProtocolSchemaNames: Record<keyof typeof agentProtocolMessages, string> = {
  hello: 'Hello',
  heartbeat: 'Heartbeat',
  goodbye: 'Goodbye',
  ack: 'Ack',
  'update-result': 'UpdateResult',
  'scan-result': 'ScanResult',
  update: 'UpdateCommand',
  scan: 'ScanCommand',
  'message-refused': 'MessageRefusedCommand',
};

/** Building blocks that several messages share; each becomes a schema of its own, referenced by $ref. */
const shared: Record<string, z.ZodType> = {
  AgentId,
  Timestamp,
  ComponentType,
  ComponentVersion,
  InstalledComponent,
  ComponentTarget,
  AppliedComponent,
};

export type JsonSchema = { [key: string]: unknown };

const SCHEMA_REF_PREFIX = '#/components/schemas/';

/** JSON Schema of one zod schema, every part inline: what a message's payload must be. */
export function inlineJsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-07', unrepresentable: 'throw', reused: 'inline' }) as JsonSchema;
  return rest;
}

/**
 * components.schemas of docs/asyncapi.yaml: the shared building blocks and one schema per
 * message, referring to each other as `#/components/schemas/<name>`.
 */
export function agentProtocolJsonSchemas(): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(shared)) registry.add(schema, { id });
  for (const [type, schema] of Object.entries(agentProtocolMessages)) registry.add(schema, { id: agentProtocolSchemaNames[type as keyof typeof agentProtocolMessages] });
  const { schemas } = z.toJSONSchema(registry, { target: 'draft-07', unrepresentable: 'throw', uri: (id) => `${SCHEMA_REF_PREFIX}${id}` });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => {
      const { $schema: _dialect, $id: _id, ...rest } = schema as JsonSchema;
      return [id, rest];
    }),
  );
}

/**
 * Replaces every `{ $ref: '#/components/schemas/X' }` (and only such references) by the schema
 * X of `schemas`, recursively; a sibling keyword of a $ref is kept. For comparing a document's
 * payloads with `inlineJsonSchema`.
 */
export function dereferenceSchemas(schema: unknown, schemas: Record<string, unknown>, seen: readonly string[] = []): unknown {
  if (Array.isArray(schema)) return schema.map((s) => dereferenceSchemas(s, schemas, seen));
  if (typeof schema !== 'object' || schema === null) return schema;
  const { $ref, ...rest } = schema as JsonSchema;
  const own = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, dereferenceSchemas(v, schemas, seen)]));
  if (typeof $ref !== 'string') return own;
  if (!$ref.startsWith(SCHEMA_REF_PREFIX)) throw new Error(`unsupported $ref ${$ref}`);
  const name = $ref.slice(SCHEMA_REF_PREFIX.length);
  if (seen.includes(name)) throw new Error(`circular $ref ${$ref}`);
  if (!(name in schemas)) throw new Error(`$ref to a missing schema ${$ref}`);
  return { ...(dereferenceSchemas(schemas[name], schemas, [...seen, name]) as JsonSchema), ...own };
}
