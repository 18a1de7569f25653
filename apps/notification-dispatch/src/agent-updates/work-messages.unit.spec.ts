import { FIRST_NOTIFY_CHUNK, NOTIFY_CHUNK, notifyChunks } from './work-messages';

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
