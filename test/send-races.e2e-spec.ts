import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { rabbitmqctl, waitFor } from '@herald/testing';
import { RulesHarness } from './support/rules-harness';

jest.setTimeout(120_000);

/**
 * Two ways a send could go wrong under faults, found while measuring at fleet scale. Each is
 * forced deterministically here: a lock the test holds, a broker policy the test sets.
 */
describe('sending an update attempt, under faults', () => {
  let h: RulesHarness;

  beforeEach(async () => {
    h = new RulesHarness();
    await h.start();
  });
  afterEach(async () => {
    await h.stop();
  });

  const metric = async (pattern: RegExp): Promise<number> => {
    const text = (await h.system.http<string>('notification-dispatch', 'GET', '/metrics', undefined, null)).body;
    return [...text.matchAll(new RegExp(pattern.source, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
  };

  it('publishes an attempt again as soon as its send is retried after the publish failed, instead of waiting for the acknowledgement timeout and a resend', async () => {
    await h.settings({ ackTimeoutSeconds: 60, resendIntervalSeconds: 600 });
    const agent = await h.agent('race-publish', [{ type: 'virus-pattern', version: '1.0' }]);
    // The agent's queue refuses every message: the broker nacks the publish of the command.
    await rabbitmqctl('set_policy', '-p', h.system.vhost.name, 'refuse', '^herald\\.agent\\.race-publish$', '{"max-length":0,"overflow":"reject-publish"}', '--apply-to', 'queues');
    await h.publish('virus-pattern', '2.0');
    await h.waitForEntry(agent.id, (e) => e.type === 'AttemptSent', 'attempt 1 recorded');
    await waitFor(async () => (await metric(/^herald_messages_retried_total\{[^}]*queue="herald\.dispatch\.work"[^}]*\} (\d+)/)) >= 1, {
      what: 'the failed send to be retried',
      timeoutMs: 20_000,
    });
    expect(agent.updates).toEqual([]);

    await rabbitmqctl('clear_policy', '-p', h.system.vhost.name, 'refuse');
    const cleared = Date.now();
    await waitFor(() => agent.updates.length > 0, { what: 'the command to reach the agent', timeoutMs: 20_000 });
    expect(Date.now() - cleared).toBeLessThan(20_000);
    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the update');
    // The same attempt, published again: no attempt failed, none was added.
    expect(entries.filter((e) => e.type === 'AttemptSent').map((e) => e.attempt)).toEqual([1]);
    expect(entries.map((e) => e.type)).not.toContain('AttemptFailed');
    expect(agent.updates.map((u) => u.attempt)).toEqual([1]);
  });

  it('takes no R6 slot for an attempt that stopped being due while it waited for one', async () => {
    // R1a: the offline agent is targeted; attempt 1 finds no queue; attempt 2 comes after 2 s.
    await h.settings({ includeIndependentAndOffline: true, resendIntervalSeconds: 2 });
    const agent = await h.offlineAgent('race-slot', [{ type: 'virus-pattern', version: '1.0' }]);
    const db = new Client({ connectionString: h.system.db.url });
    await db.connect();
    try {
      await h.publish('virus-pattern', '2.0');
      const [targeted] = (await h.waitForEntry(agent.id, (e) => e.type === 'ResendScheduled', 'attempt 1 failed; a resend scheduled')).filter(
        (e) => e.type === 'UpdateTargeted',
      );
      // Hold the R6 slots while attempt 2 comes due: its send waits for them.
      await db.query('BEGIN');
      await db.query('LOCK TABLE notification_dispatch.in_flight IN ACCESS EXCLUSIVE MODE');
      await waitFor(
        async () => {
          const { rows } = await db.query(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'notification-dispatch' AND wait_event_type = 'Lock'`,
          );
          return Number(rows[0].n) > 0;
        },
        { what: 'the send of attempt 2 to wait for the slots', timeoutMs: 20_000 },
      );
      // Meanwhile the notification ends (as if another instance had just resolved it).
      const other = new Client({ connectionString: h.system.db.url });
      await other.connect();
      try {
        await other.query(
          `INSERT INTO notification_dispatch.events (stream_id, stream_position, event_id, type, data, metadata)
           SELECT stream_id, max(stream_position) + 1, $2, 'NotificationResolved', $3::jsonb, '{}' FROM notification_dispatch.events
            WHERE stream_id = $1 GROUP BY stream_id`,
          [
            `agent-${agent.id}`,
            randomUUID(),
            JSON.stringify({ agentId: agent.id, notificationId: targeted!.notificationId, reason: 'already-up-to-date', at: new Date().toISOString() }),
          ],
        );
      } finally {
        await other.end();
      }
      await db.query('COMMIT');
      // The send goes on; the attempt is no longer due, and must leave no slot behind.
      await waitFor(
        async () => (await db.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n === '0',
        { what: 'the send to finish' },
      );
      await new Promise((r) => setTimeout(r, 1_000));
      const held = await db.query('SELECT agent_id FROM notification_dispatch.in_flight WHERE agent_id = $1', [agent.id]);
      expect(held.rows).toEqual([]);
      expect((await h.entries(agent.id)).filter((e) => e.type === 'AttemptSent').map((e) => e.attempt)).toEqual([1]);
    } finally {
      await db.query('ROLLBACK').catch(() => undefined);
      await db.end();
    }
  });
});
