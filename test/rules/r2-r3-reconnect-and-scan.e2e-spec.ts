import { randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { Exchanges, agentCommandQueue, agentInboundRoutingKey } from '@herald/contracts';
import { sleep, waitFor } from '@herald/testing';
import { RulesHarness, types } from '../support/rules-harness';

jest.setTimeout(120_000);

/** R2 (update on reconnect) and R3 (Scan Now after the update). */
describe('R2 and R3', () => {
  const h = new RulesHarness();

  beforeAll(() => h.start());
  afterAll(() => h.stop());
  beforeEach(() =>
    h.settings({ notifyOnDownload: true, includeIndependentAndOffline: false, updateOnReconnect: true, scanAfterUpdate: false, resendIntervalSeconds: 2, maxAttempts: 5, ackTimeoutSeconds: 2 }),
  );

  it('scenario 4: with R1a off and R2 on, an offline agent is not notified, and is updated at once when it reconnects; an up-to-date one gets nothing', async () => {
    const type = 's4-pattern';
    const outdated = await h.offlineAgent('s4-late', [{ type, version: '1.0' }]);
    const rollout = await h.publish(type, '1.1');
    await h.waitForEntry(outdated.id, (e) => e.type === 'TargetSkipped', 'the skip');
    await sleep(1_000);
    expect(outdated.updates).toHaveLength(0);

    const reconnectedAt = Date.now();
    await outdated.restart();
    const entries = await h.waitForEntry(outdated.id, (e) => e.type === 'UpdateCompleted', 'the update on reconnect');
    expect(types(entries)).toEqual(['TargetSkipped', 'UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted']);
    expect(entries[1]).toMatchObject({ trigger: 'reconnect', rolloutId: null, rolloutIds: [rollout.rolloutId] });
    expect(Date.parse(entries[2]!.at) - reconnectedAt).toBeLessThan(5_000);
    expect(await outdated.version(type)).toBe('1.1');
    // The rollout counts the skipped agent that R2 brought up to date.
    await waitFor(async () => (await h.rollout(rollout.rolloutId)).counts.updatedAfterSkip === 1, { what: 'the rollout to see it' });

    // Already up to date: reconnecting changes nothing.
    const current = await h.agent('s4-current', [{ type, version: '1.1' }]);
    await current.restart();
    await sleep(1_500);
    expect(current.updates).toHaveLength(0);
    expect(await h.entries(current.id)).toEqual([]);
  });

  it('a missed heartbeat is not a reconnect: an agent heard again while it works on an update keeps it; one that says hello again gets a new one', async () => {
    const type = 's4c-pattern';
    const agentId = 's4c-slow';
    await h.settings({ notifyOnDownload: false });
    await h.publish(type, '1.1');
    await h.settings({ notifyOnDownload: true });
    // A hand-driven agent, so the test decides when it heartbeats and when it reports.
    const conn = await amqp.connect(h.system.amqpUrl);
    try {
      const ch = await conn.createConfirmChannel();
      const queue = agentCommandQueue(agentId);
      await ch.assertQueue(queue, { exclusive: true, durable: false, autoDelete: true });
      await ch.bindQueue(queue, Exchanges.agentOutbound, agentId);
      const commands: Array<{ type: string; commandId: string; notificationId: string; attempt: number }> = [];
      await ch.consume(queue, (m) => m && (commands.push(JSON.parse(m.content.toString('utf8'))), ch.ack(m)));
      const send = async (body: Record<string, unknown> & { type: string }) => {
        const message = { schemaVersion: 1, messageId: randomUUID(), agentId, sentAt: new Date().toISOString(), ...body };
        ch.publish(Exchanges.agentInbound, agentInboundRoutingKey(agentId, body.type), Buffer.from(JSON.stringify(message)), { persistent: true, messageId: message.messageId });
        await ch.waitForConfirms();
      };
      const hello = (bootId: string, version: string) =>
        send({ type: 'hello', bootId, hostname: `${agentId}.example`, agentVersion: '1.0.0', independentMode: false, components: [{ type, version }] });

      await hello('boot-1', '1.0'); // R2: outdated on hello
      const update = await waitFor(async () => commands[0], { what: 'the update on hello' });
      await send({ type: 'ack', commandId: update.commandId, notificationId: update.notificationId, attempt: update.attempt });
      await h.waitForEntry(agentId, (e) => e.type === 'NotificationAcknowledged', 'the acknowledgement');

      // Busy downloading, it misses its heartbeats: presence times it out, then hears it again.
      await h.waitOnline(agentId, false);
      await send({ type: 'heartbeat', bootId: 'boot-1' });
      await h.waitOnline(agentId, true);
      await sleep(1_000);
      expect(commands).toHaveLength(1);
      await send({
        type: 'update-result',
        commandId: update.commandId,
        notificationId: update.notificationId,
        outcome: 'completed',
        components: [{ type, fromVersion: '1.0', toVersion: '1.1', mode: 'full', bytes: 4096 }],
        installed: [{ type, version: '1.1' }],
      });
      const entries = await h.waitForEntry(agentId, (e) => e.type === 'UpdateCompleted', 'the report of the update it kept');
      expect(types(entries)).toEqual(['UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted']);
      expect(entries[3]).toMatchObject({ notificationId: update.notificationId, targetReached: true });

      // A hello is different: the agent reconnected, so what it had in hand was interrupted.
      await h.settings({ notifyOnDownload: false });
      await h.publish(type, '1.2');
      await h.settings({ notifyOnDownload: true });
      await hello('boot-1', '1.1');
      const second = await waitFor(async () => commands[1], { what: 'the update on the second hello' });
      await send({ type: 'ack', commandId: second.commandId, notificationId: second.notificationId, attempt: second.attempt });
      await h.waitForEntry(agentId, (e) => e.type === 'NotificationAcknowledged' && e.notificationId === second.notificationId, 'the second acknowledgement');
      await hello('boot-1', '1.1'); // its connection dropped before it reported
      const third = await waitFor(async () => commands[2], { what: 'the update after the reconnect' });
      expect(third.notificationId).not.toBe(second.notificationId);
      const after = await h.waitForEntry(agentId, (e) => e.type === 'NotificationResolved', 'the interrupted update resolved');
      expect(after.find((e) => e.type === 'NotificationResolved')).toMatchObject({ notificationId: second.notificationId, reason: 'superseded-by-reconnect' });
    } finally {
      await conn.close();
    }
  });

  it('a heartbeat handled after its own goodbye does not bring the agent back, nor send it an update', async () => {
    const type = 's4d-pattern';
    const agentId = 's4d-gone';
    const conn = await amqp.connect(h.system.amqpUrl);
    try {
      const ch = await conn.createConfirmChannel();
      const send = async (body: Record<string, unknown> & { type: string }) => {
        const message = { schemaVersion: 1, messageId: randomUUID(), agentId, sentAt: new Date().toISOString(), bootId: 'boot-1', ...body };
        ch.publish(Exchanges.agentInbound, agentInboundRoutingKey(agentId, body.type), Buffer.from(JSON.stringify(message)), { persistent: true, messageId: message.messageId });
        await ch.waitForConfirms();
      };
      await send({ type: 'hello', hostname: `${agentId}.example`, agentVersion: '1.0.0', independentMode: false, components: [{ type, version: '1.0' }] });
      await h.waitOnline(agentId, true);
      await send({ type: 'goodbye' });
      await h.waitOnline(agentId, false);
      await h.publish(type, '1.1');
      await h.waitForEntry(agentId, (e) => e.type === 'TargetSkipped', 'the skip: it left');
      // Its last heartbeat, sent before the goodbye, handled after it (heartbeats have a queue of their own).
      await send({ type: 'heartbeat' });
      await sleep(2_000);
      expect((await h.timeline(agentId))?.agent?.online).toBe(false);
      expect(types(await h.entries(agentId))).toEqual(['TargetSkipped']);
    } finally {
      await conn.close();
    }
  });

  it('every update belongs to a rollout: an agent the plan never had is updated on reconnect in it; an outdated Independent agent left alone is recorded there, once per reason', async () => {
    const type = 's4r-pattern';
    // Nobody has this component yet: the rollout targets nobody.
    const rollout = await h.publish(type, '1.1');
    expect(rollout.counts.targeted).toBe(0);

    // Registered after the release, outdated: R2 updates it, in that rollout.
    const late = await h.agent('s4r-late', [{ type, version: '1.0' }]);
    const entries = await h.waitForEntry(late.id, (e) => e.type === 'UpdateCompleted', 'the update on hello');
    expect(entries[0]).toMatchObject({ type: 'UpdateTargeted', trigger: 'reconnect', rolloutId: null, rolloutIds: [rollout.rolloutId] });

    // In Independent mode without the privilege, outdated: left alone, and the skip recorded.
    const independent = await h.agent('s4r-independent', [{ type, version: '1.0' }], { independent: true });
    const skip = (reason: string) => (e: { type: string; trigger?: unknown; reason?: unknown }) => e.type === 'TargetSkipped' && e.trigger === 'reconnect' && e.reason === reason;
    const [first] = await h.waitForEntry(independent.id, skip('no-privilege'), 'the skip on hello');
    expect(first).toMatchObject({ rolloutIds: [rollout.rolloutId], components: [{ type, version: '1.1' }] });
    // The admin grants the privilege; back again: the same versions, another reason, another skip.
    await h.grantIndependentPrivilege(independent.id, true);
    await independent.restart();
    await h.waitForEntry(independent.id, skip('independent'), 'the skip with the privilege');
    // Back once more the same way: the same skip, not recorded again.
    await independent.restart();
    await sleep(1_500);
    expect(types(await h.entries(independent.id))).toEqual(['TargetSkipped', 'TargetSkipped']);
    expect(independent.updates).toHaveLength(0);

    // The rollout counts both, as having come in on reconnect, with the skip's newer reason.
    const counts = await waitFor(
      async () => {
        const c = (await h.rollout(rollout.rolloutId)).counts;
        return c.onReconnect.updated === 1 && c.skipped.independent === 1 ? c : undefined;
      },
      { what: 'the rollout to count both' },
    );
    expect(counts).toMatchObject({ targeted: 1, updated: 1, inProgress: 0, skipped: { offline: 0, independent: 1, 'no-privilege': 0 }, onReconnect: { targeted: 1, updated: 1, skipped: 1 } });
    const list = await h.system.http<{ agents: Array<{ agentId: string; via: string; targeted: boolean; skippedReason: string | null }> }>(
      'notification-dispatch',
      'GET',
      `/rollouts/${rollout.rolloutId}/agents`,
    );
    expect(list.body.agents.map((a) => [a.agentId, a.via, a.targeted, a.skippedReason])).toEqual([
      ['s4r-independent', 'reconnect', false, 'independent'],
      ['s4r-late', 'reconnect', true, null],
    ]);
  });

  it('with R2 off, a reconnecting outdated agent is left alone', async () => {
    const type = 's4b-pattern';
    await h.settings({ updateOnReconnect: false });
    const agent = await h.offlineAgent('s4b-late', [{ type, version: '1.0' }]);
    await h.publish(type, '1.1');
    await h.waitForEntry(agent.id, (e) => e.type === 'TargetSkipped', 'the skip');
    await agent.restart();
    await sleep(1_500);
    expect(agent.updates).toHaveLength(0);
    expect(types(await h.entries(agent.id))).toEqual(['TargetSkipped']);
  });

  it('scenario 7: with R3 on, a scan follows each completed event-triggered update, exactly once per update', async () => {
    const type = 's7-pattern';
    await h.settings({ scanAfterUpdate: true });
    const agent = await h.agent('s7-a', [{ type, version: '1.0' }]);

    await h.publish(type, '1.1');
    await h.waitForEntry(agent.id, (e) => e.type === 'ScanCompleted', 'the first scan');
    await h.publish(type, '1.2');
    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'ScanCompleted' && e.position > 8, 'the second scan');

    // An update started by R2 on reconnect is followed by a scan too.
    await agent.stop();
    await h.waitOnline(agent.id, false);
    await h.publish(type, '1.3');
    await agent.restart();
    const all = await h.waitForEntry(agent.id, (e) => e.type === 'ScanCompleted' && e.position > entries.length, 'the scan after the R2 update');

    await sleep(1_000);
    expect(agent.scans).toHaveLength(3);
    expect(new Set(agent.scans.map((s) => s.scanId)).size).toBe(3);
    const completed = all.filter((e) => e.type === 'UpdateCompleted');
    const scans = all.filter((e) => e.type === 'ScanCompleted');
    expect(completed).toHaveLength(3);
    expect(scans).toHaveLength(3);
    expect(scans.every((s) => s.outcome === 'clean')).toBe(true);
    expect(types(all).filter((t) => t === 'ScanRequested')).toHaveLength(3);
  });
});
