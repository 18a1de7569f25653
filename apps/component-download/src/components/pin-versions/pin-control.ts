import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { type ComponentPinned, type ComponentUnpinned, Exchanges } from '@herald/contracts';
import { CommandHandler, type OutboxMessage, type Tx } from '@herald/event-store';
import type { RecordedEvent } from '@herald/domain';
import { ServiceConfig } from '@herald/platform';
import { PinoLogger } from 'nestjs-pino';
import type { ComponentDownloadConfig } from '../../config';
import { ComponentCatalog, type Pin, type StoredVersion } from '../component-catalog';
import { componentTarget } from '../component-target';
import { type ComponentEvent, type ComponentState, componentDecider, componentStreamId } from '../component.decider';

export interface PinView {
  componentType: string;
  pinned: Pin | null;
  latest: string | null;
}

/**
 * Admins pin a component type to a kept version (a rollback when it is older than the latest)
 * and unpin it. The pin is the component's own decision, taken against what it keeps, so a
 * pinned version is always one this server can hand out, and retention keeps it while pinned.
 * Dispatch hears of each change through the outbox (component.pinned / component.unpinned) and
 * moves the fleet.
 */
@Injectable()
export class PinControl {
  constructor(
    @Inject(ServiceConfig) private readonly config: ComponentDownloadConfig,
    private readonly commands: CommandHandler,
    private readonly catalog: ComponentCatalog,
    private readonly log: PinoLogger,
  ) {
    log.setContext('pins');
  }

  /** Throws PinRefusedError when nothing of the type is kept, or not that version. */
  async pin(componentType: string, version: string, by: string, reason: string | null): Promise<PinView> {
    const correlationId = randomUUID();
    await this.commands.handle(
      componentDecider,
      componentStreamId(componentType),
      { type: 'Pin', componentType, version, by, reason, now: new Date() },
      { metadata: { correlationId }, outbox: ({ events, tx, after }) => this.announce(events, after, tx, correlationId) },
    );
    this.log.info({ correlationId, componentType, version, by, reason }, 'component pinned');
    return this.view(componentType);
  }

  async unpin(componentType: string, by: string): Promise<PinView> {
    const correlationId = randomUUID();
    await this.commands.handle(
      componentDecider,
      componentStreamId(componentType),
      { type: 'Unpin', componentType, by, now: new Date() },
      { metadata: { correlationId }, outbox: ({ events, tx, after }) => this.announce(events, after, tx, correlationId) },
    );
    this.log.info({ correlationId, componentType, by }, 'component unpinned');
    return this.view(componentType);
  }

  async view(componentType: string): Promise<PinView> {
    const [pins, latest] = await Promise.all([this.catalog.pins(), this.catalog.latest()]);
    return { componentType, pinned: pins.get(componentType) ?? null, latest: latest.find((v) => v.componentType === componentType)?.version ?? null };
  }

  private async announce(events: readonly RecordedEvent<ComponentEvent>[], after: ComponentState, tx: Tx, correlationId: string): Promise<OutboxMessage[]> {
    const out: OutboxMessage[] = [];
    for (const e of events) {
      if (e.type !== 'ComponentPinned' && e.type !== 'ComponentUnpinned') continue;
      const latest = await this.stored(e.data.componentType, after.latest!.version, tx);
      const base = { schemaVersion: 1 as const, messageId: randomUUID(), occurredAt: e.data.at, correlationId, componentType: e.data.componentType, by: e.data.by, latest: this.target(latest) };
      const payload: ComponentPinned | ComponentUnpinned =
        e.type === 'ComponentPinned'
          ? { ...base, type: 'component.pinned', pin: { sequence: e.streamPosition, pinned: this.target(await this.stored(e.data.componentType, e.data.version, tx)) }, reason: e.data.reason }
          : { ...base, type: 'component.unpinned', pin: { sequence: e.streamPosition, pinned: null }, pinnedVersion: e.data.version };
      out.push({ messageId: payload.messageId, exchange: Exchanges.events, routingKey: payload.type, type: payload.type, correlationId, payload });
    }
    return out;
  }

  private async stored(componentType: string, version: string, tx: Tx): Promise<StoredVersion> {
    const v = await this.catalog.find(componentType, version, tx);
    if (!v) throw new Error(`${componentType} ${version} is kept by the component's history but missing from component_versions`);
    return v;
  }

  private target(v: StoredVersion) {
    return componentTarget(this.config.PUBLIC_BASE_URL, v);
  }
}
