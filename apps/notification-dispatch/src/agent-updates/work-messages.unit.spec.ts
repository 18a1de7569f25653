import { FIRST_NOTIFY_CHUNK, NOTIFY_CHUNK, SPREAD_STEPS, notifyChunks, spreadNotifyChunks } from './work-messages';

describe('notifyChunks', () => {
  it('notifies a small chunk first, then full ones, every target once and in order', () => {
    const targets = Array.from({ length: FIRST_NOTIFY_CHUNK + 2 * NOTIFY_CHUNK + 7 }, (_, i) => i);
    const out = notifyChunks(targets);
    expect(out.map((c) => c.length)).toEqual([FIRST_NOTIFY_CHUNK, NOTIFY_CHUNK, NOTIFY_CHUNK, 7]);
    expect(out.flat()).toEqual(targets);
  });

  it('makes one chunk of a small rollout and none of an empty one', () => {
    expect(notifyChunks([1, 2, 3])).toEqual([[1, 2, 3]]);
    expect(notifyChunks([])).toEqual([]);
  });
});

describe('spreadNotifyChunks', () => {
  const targets = Array.from({ length: 10_000 }, (_, i) => `a-${i}`);

  it('notifies everyone at once without a spread', () => {
    expect(spreadNotifyChunks('r1', targets, 0)).toEqual(notifyChunks(targets).map((agentIds) => ({ agentIds, delayMs: 0 })));
  });

  it('spreads the agents over the window in steps from 0 to its end, each agent once, the same way every time', () => {
    const spread = spreadNotifyChunks('r1', targets, 90_000);
    expect(spread.flatMap((c) => c.agentIds).sort()).toEqual([...targets].sort());
    const delays = [...new Set(spread.map((c) => c.delayMs))].sort((a, b) => a - b);
    expect(delays).toEqual(Array.from({ length: SPREAD_STEPS }, (_, i) => i * 10_000));
    // At random: every step has about a tenth of the fleet.
    for (const delay of delays) {
      const n = spread.filter((c) => c.delayMs === delay).reduce((sum, c) => sum + c.agentIds.length, 0);
      expect(n).toBeGreaterThan(800);
      expect(n).toBeLessThan(1_200);
    }
    expect(spreadNotifyChunks('r1', targets, 90_000)).toEqual(spread);
    // Another rollout draws other agents first.
    expect(spreadNotifyChunks('r2', targets, 90_000)[0]!.agentIds).not.toEqual(spread[0]!.agentIds);
  });

  it('keeps the plan order (reachable agents first) within a step, in chunks no larger than usual', () => {
    for (const chunk of spreadNotifyChunks('r1', targets, 9_000)) {
      expect(chunk.agentIds.length).toBeLessThanOrEqual(NOTIFY_CHUNK);
      const order = chunk.agentIds.map((id) => Number(id.slice(2)));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
  });
});
