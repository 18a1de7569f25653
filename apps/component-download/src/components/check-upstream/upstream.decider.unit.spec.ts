import { DeciderSpec } from '@herald/testing';
import type { UpstreamEvent} from './upstream.decider';
import { manifestAccepted, upstreamDecider } from './upstream.decider';

const spec = DeciderSpec(upstreamDecider);
const now = new Date('2026-11-27T10:00:00.000Z');
const at = now.toISOString();
const publishedAt = '2026-11-27T09:00:00.000Z';
const accepted = (v: number): UpstreamEvent => ({ type: 'UpstreamManifestAccepted', data: { manifestVersion: v, publishedAt, at } });
const verified = (v: number) => ({ type: 'RecordVerifiedManifest' as const, manifestVersion: v, publishedAt, now });

describe('upstream manifest decider', () => {
  it('accepts the first manifest and every newer one; the same one again records nothing', () => {
    spec.given([]).when(verified(3)).then([accepted(3)]);
    spec.given([accepted(3)]).when(verified(4)).then([accepted(4)]);
    spec.given([accepted(3)]).when(verified(3)).thenNothing();
  });

  it('refuses an older manifest as a rollback, once', () => {
    const rollback: UpstreamEvent = {
      type: 'UpstreamManifestRejected',
      data: { reason: 'rollback', detail: 'manifest version 2 is older than 3, accepted before', manifestVersion: 2, at },
    };
    spec.given([accepted(3)]).when(verified(2)).then([rollback]);
    spec.given([accepted(3), rollback]).when(verified(2)).thenNothing();
    const state = [accepted(3), rollback].reduce(upstreamDecider.evolve, upstreamDecider.initialState());
    expect(manifestAccepted(state, 2)).toBe(false);
    expect(manifestAccepted(state, 3)).toBe(true);
  });

  it('records a bad signature once for the same manifest version', () => {
    const command = { type: 'RecordRejectedManifest' as const, reason: 'bad-signature' as const, detail: 'x', manifestVersion: 5, now };
    const event: UpstreamEvent = { type: 'UpstreamManifestRejected', data: { reason: 'bad-signature', detail: 'x', manifestVersion: 5, at } };
    spec.given([accepted(4)]).when(command).then([event]);
    spec.given([accepted(4), event]).when(command).thenNothing();
    spec.given([accepted(4), event]).when({ ...command, manifestVersion: 6 }).then([{ ...event, data: { ...event.data, manifestVersion: 6 } }]);
  });
});
