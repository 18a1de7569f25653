import { randomUUID } from 'node:crypto';
import { compareVersions, deterministicUuid, outdatedComponents, parseAgentCommand, parseAgentMessage, parseIntegrationEvent } from '@herald/contracts';

const hello = (over: Record<string, unknown> = {}) => ({
  type: 'hello',
  schemaVersion: 1,
  messageId: randomUUID(),
  agentId: 'agent-7',
  sentAt: new Date().toISOString(),
  bootId: 'boot-1',
  hostname: 'pc-7',
  agentVersion: '1.2.3',
  independentMode: false,
  components: [{ type: 'virus-pattern', version: '17.1.0' }],
  ...over,
});
const body = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('parseAgentMessage', () => {
  it('accepts a valid hello whose routing key names the same agent', () => {
    const result = parseAgentMessage(body(hello()), 'agent.agent-7.hello');
    expect(result).toMatchObject({ ok: true, message: { type: 'hello', agentId: 'agent-7' } });
  });

  it.each([
    ['not JSON', Buffer.from('{nope'), 'agent.agent-7.hello', 'not-json'],
    ['a JSON array', body([1, 2]), 'agent.agent-7.hello', 'not-json'],
    ['an unknown type', body(hello({ type: 'greetings' })), 'agent.agent-7.greetings', 'unknown-type'],
    ['an unsupported schema version', body(hello({ schemaVersion: 2 })), 'agent.agent-7.hello', 'unsupported-schema-version'],
    ['a missing field', body(hello({ bootId: undefined })), 'agent.agent-7.hello', 'invalid'],
    ['an unknown field', body(hello({ extra: true })), 'agent.agent-7.hello', 'invalid'],
    ['a bad version', body(hello({ components: [{ type: 'virus-pattern', version: 'latest' }] })), 'agent.agent-7.hello', 'invalid'],
    ['another agent in the routing key', body(hello()), 'agent.agent-8.hello', 'agent-id-mismatch'],
    ['no agent in the routing key', body(hello()), 'hello', 'agent-id-mismatch'],
    ['a routing key of another type', body(hello()), 'agent.agent-7.heartbeat', 'invalid'],
    ['a label key with capitals', body(hello({ labels: { Site: 'paris' } })), 'agent.agent-7.hello', 'invalid'],
    ['an empty label value', body(hello({ labels: { site: '' } })), 'agent.agent-7.hello', 'invalid'],
    ['a label value with a control character', body(hello({ labels: { site: 'par\nis' } })), 'agent.agent-7.hello', 'invalid'],
    ['more than 32 labels', body(hello({ labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) })), 'agent.agent-7.hello', 'invalid'],
  ])('refuses %s', (_what, raw, routingKey, reason) => {
    expect(parseAgentMessage(raw, routingKey)).toMatchObject({ ok: false, reason });
  });

  it('hands back what a refused body says it is (its messageId and type), as far as it could be read', () => {
    const h = hello({ agentId: 'agent-8' });
    expect(parseAgentMessage(body(h), 'agent.agent-7.hello')).toMatchObject({ ok: false, reason: 'agent-id-mismatch', subject: { messageId: h.messageId, type: 'hello' } });
    expect(parseAgentMessage(body({ type: 'greetings', messageId: 'm-1' }), 'agent.agent-7.greetings')).toMatchObject({ reason: 'unknown-type', subject: { messageId: 'm-1', type: 'greetings' } });
    expect(parseAgentMessage(body({ type: 'hello', messageId: 7 }), 'agent.agent-7.hello')).toMatchObject({ reason: 'unsupported-schema-version', subject: { type: 'hello' } });
    expect(parseAgentMessage(body({ type: 'x'.repeat(300) }), 'agent.agent-7.hello')).toMatchObject({ reason: 'unknown-type', subject: {} });
    expect(parseAgentMessage(Buffer.from('{nope'), 'agent.agent-7.hello')).not.toHaveProperty('subject');
  });

  it('accepts a hello with labels, and one without', () => {
    const labels = { site: 'paris', os: 'windows-11', 'rack.id': 'r_7' };
    expect(parseAgentMessage(body(hello({ labels })), 'agent.agent-7.hello')).toMatchObject({ ok: true, message: { labels } });
    expect(parseAgentMessage(body(hello({ labels: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v'])) })), 'agent.agent-7.hello')).toMatchObject({ ok: true });
  });

  it('refuses agent ids that could not be a routing-key word', () => {
    expect(parseAgentMessage(body(hello({ agentId: 'a.b' })), 'agent.a.b.hello')).toMatchObject({ ok: false });
    expect(parseAgentMessage(body(hello({ agentId: '#' })), 'agent.#.hello')).toMatchObject({ ok: false });
  });
});

describe('parseAgentCommand and parseIntegrationEvent', () => {
  it('accepts a message-refused with unreadable ids, and refuses one with an unknown reason or a long detail', () => {
    const notice = {
      type: 'message-refused',
      schemaVersion: 1,
      messageId: '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0',
      commandId: '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0',
      agentId: 'agent-7',
      issuedAt: new Date().toISOString(),
      refusedMessageId: null,
      refusedType: null,
      reason: 'not-json',
      detail: 'the body is not valid UTF-8 JSON',
      suppressed: 0,
    };
    expect(parseAgentCommand(body(notice))).toMatchObject({ ok: true, message: { type: 'message-refused' } });
    expect(parseAgentCommand(body({ ...notice, reason: 'rate-limited' }))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(parseAgentCommand(body({ ...notice, detail: 'x'.repeat(501) }))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(parseAgentCommand(body({ ...notice, suppressed: -1 }))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses an update command without components', () => {
    const command = { type: 'update', schemaVersion: 1, messageId: randomUUID(), commandId: randomUUID(), agentId: 'a', notificationId: randomUUID(), attempt: 1, issuedAt: new Date().toISOString(), components: [] };
    expect(parseAgentCommand(body(command))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses an agent message on the integration path', () => {
    expect(parseIntegrationEvent(body(hello()))).toMatchObject({ ok: false, reason: 'unknown-type' });
  });
});

describe('versions and ids', () => {
  it('compares versions numerically, part by part', () => {
    expect(compareVersions('17.10.0', '17.9.0')).toBe(1);
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
    expect(compareVersions('2', '10')).toBe(-1);
  });

  it('finds the components an agent has in an older version only', () => {
    const catalog = [{ type: 'a', version: '2.0' }, { type: 'b', version: '1.0' }, { type: 'c', version: '5.0' }];
    expect(outdatedComponents([{ type: 'a', version: '1.9' }, { type: 'b', version: '1.0' }], catalog)).toEqual([{ type: 'a', version: '2.0' }]);
    // A pinned target: any other version is to change, a newer one too (a rollback); the same version is not.
    const pinned = [{ type: 'a', version: '1.5', pinned: true }];
    expect(outdatedComponents([{ type: 'a', version: '1.9' }], pinned)).toEqual(pinned);
    expect(outdatedComponents([{ type: 'a', version: '1.0' }], pinned)).toEqual(pinned);
    expect(outdatedComponents([{ type: 'a', version: '1.5.0' }], pinned)).toEqual([]);
  });

  it('derives the same UUID from the same inputs, and a valid one', () => {
    const id = deterministicUuid('update', 'n1', '3');
    expect(id).toBe(deterministicUuid('update', 'n1', '3'));
    expect(id).not.toBe(deterministicUuid('update', 'n1', '4'));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
