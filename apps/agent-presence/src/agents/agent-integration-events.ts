import { randomUUID } from 'node:crypto';
import type { AgentChanged, AgentConnected as AgentConnectedMessage, AgentDisconnected as AgentDisconnectedMessage } from '@herald/contracts';
import { Exchanges } from '@herald/contracts';
import type { OutboxMessage } from '@herald/event-store';
import type { RecordedEvent } from '@herald/domain';
import { type AgentEvent, type AgentState, labelsOf } from './agent.decider';

/** What the other services hear about an agent, one message per new event. */
export function agentIntegrationEvents(events: readonly RecordedEvent<AgentEvent>[], after: AgentState): OutboxMessage[] {
  return events.map((e) => {
    const common = { schemaVersion: 1 as const, messageId: randomUUID(), occurredAt: e.data.at, correlationId: e.metadata.correlationId };
    const facts = {
      agentId: e.data.agentId,
      sequence: e.streamPosition,
      hostname: after.hostname,
      independentMode: after.independentMode,
      independentPrivilege: after.independentPrivilege,
      components: after.components,
      labels: labelsOf(after),
    };
    let payload: AgentConnectedMessage | AgentDisconnectedMessage | AgentChanged;
    switch (e.type) {
      case 'AgentConnected':
        payload = { type: 'agent.connected', ...common, ...facts, bootId: e.data.bootId, returning: e.data.returning, via: e.data.via };
        break;
      case 'AgentDisconnected':
        payload = { type: 'agent.disconnected', ...common, agentId: e.data.agentId, sequence: e.streamPosition, reason: e.data.reason };
        break;
      case 'AgentComponentsReported':
      case 'IndependentPrivilegeChanged':
      case 'AgentLabelsChanged':
        payload = { type: 'agent.changed', ...common, ...facts, online: after.online };
        break;
    }
    return { messageId: payload.messageId, exchange: Exchanges.events, routingKey: payload.type, type: payload.type, correlationId: common.correlationId, payload };
  });
}
