import { DeciderSpec } from '@herald/testing';
import type { ComponentEvent} from './component.decider';
import { PinRefusedError, componentDecider, patchWindow } from './component.decider';

const spec = DeciderSpec(componentDecider);
const now = new Date('2026-11-27T10:00:00.000Z');
const at = now.toISOString();
const componentType = 'virus-pattern';
const digest = (n: number) => n.toString(16).padStart(64, '0');

const downloaded = (n: number): ComponentEvent => ({
  type: 'ComponentVersionDownloaded',
  data: { componentType, version: `1.0.${n}`, sha256: digest(n), size: 100, previousVersion: n === 0 ? null : `1.0.${n - 1}`, source: 'full', patchedFrom: null, downloadedAt: at },
});
const patchBuilt = (from: number, to: number, format = 'herald-delta-1'): ComponentEvent => ({
  type: 'ComponentPatchBuilt',
  data: { componentType, fromVersion: `1.0.${from}`, toVersion: `1.0.${to}`, sha256: digest(1000 + from), size: 10, method: 'diff', format, builtAt: at },
});
const rejected = (version: string, reason: 'digest-mismatch' | 'truncated'): ComponentEvent => ({
  type: 'ComponentDownloadRejected',
  data: { componentType, version, reason, detail: 'x', at },
});
const releases = (n: number) => Array.from({ length: n }, (_, k) => downloaded(k));
const retention = { type: 'ApplyRetention' as const, componentType, keepFullVersions: 7, patchWindow: 14, now };

describe('component decider', () => {
  it('records a verified version as the new latest, and nothing for one not newer', () => {
    const statement = { payloadType: 'application/vnd.herald.component-statement+json' as const, payload: 'e30=', signatures: [{ sig: 'AAAA' }] };
    spec.given(releases(2)).when({ type: 'RecordVerifiedDownload', componentType, version: '1.0.2', sha256: digest(2), size: 100, source: 'incremental', patchedFrom: '1.0.1', statement, now }).then([
      {
        type: 'ComponentVersionDownloaded',
        data: { componentType, version: '1.0.2', sha256: digest(2), size: 100, previousVersion: '1.0.1', source: 'incremental', patchedFrom: '1.0.1', statement, downloadedAt: at },
      },
    ]);
    spec.given(releases(2)).when({ type: 'RecordVerifiedDownload', componentType, version: '1.0.1', sha256: digest(1), size: 100, source: 'full', now }).thenNothing();
  });

  it('records a rejection once per version and reason, until a version is kept', () => {
    const command = { type: 'RecordRejectedDownload' as const, componentType, version: '1.0.2', reason: 'digest-mismatch' as const, detail: 'x', now };
    spec.given(releases(2)).when(command).then([rejected('1.0.2', 'digest-mismatch')]);
    spec.given([...releases(2), rejected('1.0.2', 'digest-mismatch')]).when(command).thenNothing();
    spec.given([...releases(2), rejected('1.0.2', 'truncated')]).when(command).then([rejected('1.0.2', 'digest-mismatch')]);
  });

  it('records a stored-file fault once per file and fault, until a version is kept', () => {
    const command = { type: 'RecordStoredFileFault' as const, componentType, sha256: digest(1), fault: 'corrupt' as const, version: '1.0.1', patchFrom: null, detail: 'x', now };
    const faulted: ComponentEvent = { type: 'StoredFileFaulted', data: { componentType, sha256: digest(1), fault: 'corrupt', version: '1.0.1', patchFrom: null, detail: 'x', at } };
    spec.given(releases(2)).when(command).then([faulted]);
    spec.given([...releases(2), faulted]).when(command).thenNothing();
    spec.given([...releases(2), faulted]).when({ ...command, fault: 'missing' }).then([{ ...faulted, data: { ...faulted.data, fault: 'missing' } } as ComponentEvent]);
    spec.given([...releases(2), faulted, downloaded(2)]).when(command).then([faulted]);
  });

  it('keeps only patches to the latest version, once each per format', () => {
    const command = { type: 'RecordPatchBuilt' as const, componentType, fromVersion: '1.0.1', toVersion: '1.0.2', format: 'herald-delta-1', sha256: digest(1001), size: 10, method: 'diff' as const, now };
    spec.given(releases(3)).when(command).then([patchBuilt(1, 2)]);
    spec.given([...releases(3), patchBuilt(1, 2)]).when(command).thenNothing();
    spec.given([...releases(3), patchBuilt(1, 2)]).when({ ...command, format: 'bsdiff40' }).then([patchBuilt(1, 2, 'bsdiff40')]);
    spec.given(releases(4)).when(command).thenNothing();
    // Events recorded before there were formats are herald-delta-1 patches.
    const { format: _, ...before } = (patchBuilt(1, 2) as Extract<ComponentEvent, { type: 'ComponentPatchBuilt' }>).data;
    spec.given([...releases(3), { type: 'ComponentPatchBuilt', data: before }]).when(command).thenNothing();
  });

  it('records each coding of a kept full once, none for a full not kept, and forgets them with the full', () => {
    const command = { type: 'RecordFullEncoded' as const, componentType, version: '1.0.1', coding: 'gzip' as const, sha256: digest(2001), size: 80, now };
    const encoded: ComponentEvent = { type: 'ComponentFullEncoded', data: { componentType, version: '1.0.1', coding: 'gzip', sha256: digest(2001), size: 80, at } };
    spec.given(releases(3)).when(command).then([encoded]);
    spec.given([...releases(3), encoded]).when(command).thenNothing();
    spec.given([...releases(3), encoded]).when({ ...command, coding: 'zstd', sha256: null, size: 120 }).then([
      { type: 'ComponentFullEncoded', data: { componentType, version: '1.0.1', coding: 'zstd', sha256: null, size: 120, at } },
    ]);
    spec.given(releases(3)).when({ ...command, version: '9.9.9' }).thenNothing();
    const retired: ComponentEvent = { type: 'ComponentFilesRetired', data: { componentType, fullVersions: ['1.0.1'], patches: [], at } };
    const state = [...releases(3), encoded, retired].reduce(componentDecider.evolve, componentDecider.initialState());
    expect(state.encoded).toEqual([]);
  });

  it('records a patch found not smaller once per pair and format, only to the latest, and forgets it with the next version', () => {
    const command = { type: 'RecordPatchNotKept' as const, componentType, fromVersion: '1.0.1', toVersion: '1.0.2', format: 'bsdiff40', size: 120, now };
    const notKept: ComponentEvent = { type: 'ComponentPatchNotKept', data: { componentType, fromVersion: '1.0.1', toVersion: '1.0.2', format: 'bsdiff40', size: 120, at } };
    spec.given(releases(3)).when(command).then([notKept]);
    spec.given([...releases(3), notKept]).when(command).thenNothing();
    spec.given(releases(4)).when(command).thenNothing();
    const state = [...releases(3), notKept].reduce(componentDecider.evolve, componentDecider.initialState());
    expect(state.notKept).toEqual(['1.0.1>1.0.2|bsdiff40']);
    expect(componentDecider.evolve(state, downloaded(3)).notKept).toEqual([]);
  });

  it('retires a pair with every format of it, once', () => {
    const history = [...releases(3), patchBuilt(1, 2), patchBuilt(1, 2, 'bsdiff40'), patchBuilt(1, 2, 'zstd-patch-from'), downloaded(3)];
    const state = history.reduce(componentDecider.evolve, componentDecider.initialState());
    expect(state.patches.map((p) => p.format)).toEqual(['herald-delta-1', 'bsdiff40', 'zstd-patch-from']);
    const [retired] = componentDecider.decide(retention, state) as Array<Extract<ComponentEvent, { type: 'ComponentFilesRetired' }>>;
    expect(retired!.data.patches).toEqual([{ fromVersion: '1.0.1', toVersion: '1.0.2' }]);
    expect(componentDecider.evolve(state, retired!).patches).toEqual([]);
  });

  it('the patch window is the 14 versions kept before the latest, nearest first', () => {
    const state = releases(20).reduce(componentDecider.evolve, componentDecider.initialState());
    expect(patchWindow(state, 14)).toEqual(Array.from({ length: 14 }, (_, i) => `1.0.${18 - i}`));
    expect(patchWindow(releases(3).reduce(componentDecider.evolve, componentDecider.initialState()), 14)).toEqual(['1.0.1', '1.0.0']);
  });

  it('retention keeps 7 fulls and drops patches to older versions or from outside the window', () => {
    const history = [...releases(19), patchBuilt(3, 18), patchBuilt(17, 18), downloaded(19), patchBuilt(18, 19), patchBuilt(4, 19), patchBuilt(5, 19)];
    const [event] = spec.given(history).when(retention).events();
    expect(event).toEqual({
      type: 'ComponentFilesRetired',
      data: {
        componentType,
        fullVersions: Array.from({ length: 13 }, (_, i) => `1.0.${i}`),
        patches: [
          { fromVersion: '1.0.3', toVersion: '1.0.18' },
          { fromVersion: '1.0.17', toVersion: '1.0.18' },
          { fromVersion: '1.0.4', toVersion: '1.0.19' },
        ],
        at,
      },
    });
    spec.given([...history, event!]).when(retention).thenNothing();
  });

  describe('pinning', () => {
    const pinned = (n: number): ComponentEvent => ({ type: 'ComponentPinned', data: { componentType, version: `1.0.${n}`, by: 'alice', reason: 'bad release', at } });
    const pin = (n: number) => ({ type: 'Pin' as const, componentType, version: `1.0.${n}`, by: 'alice', reason: 'bad release', now });
    const unpin = { type: 'Unpin' as const, componentType, by: 'bob', now };

    it('pins any kept version, the latest included, and records who and why', () => {
      spec.given(releases(3)).when(pin(0)).then([pinned(0)]);
      spec.given(releases(3)).when(pin(2)).then([pinned(2)]);
      spec.given([...releases(3), pinned(0)]).when(pin(1)).then([pinned(1)]);
    });

    it('pinning the pinned version again records nothing', () => {
      spec.given([...releases(3), pinned(1)]).when(pin(1)).thenNothing();
    });

    it('refuses a version that is not kept, or a type with nothing kept', () => {
      spec.given(releases(3)).when({ ...pin(0), version: '1.0.9' }).thenThrows(/version 1\.0\.9 of virus-pattern is not kept \(kept: 1\.0\.0, 1\.0\.1, 1\.0\.2\)/);
      spec.given([]).when(pin(0)).thenThrows(/no version of component type virus-pattern is kept/);
      const retired: ComponentEvent = { type: 'ComponentFilesRetired', data: { componentType, fullVersions: ['1.0.0'], patches: [], at } };
      spec.given([...releases(3), retired]).when(pin(0)).thenThrows(PinRefusedError);
    });

    it('unpins with the version that was pinned; unpinning an unpinned type records nothing', () => {
      spec.given([...releases(3), pinned(0)]).when(unpin).then([{ type: 'ComponentUnpinned', data: { componentType, version: '1.0.0', by: 'bob', at } }]);
      spec.given(releases(3)).when(unpin).thenNothing();
      spec.given([...releases(3), pinned(0), { type: 'ComponentUnpinned', data: { componentType, version: '1.0.0', by: 'bob', at } }]).when(unpin).thenNothing();
    });

    it('retention keeps the pinned full besides the newest ones, and lets it go once unpinned', () => {
      const history = [...releases(10), pinned(1)];
      const [event] = spec.given(history).when({ ...retention, keepFullVersions: 3 }).events();
      expect(event).toMatchObject({ type: 'ComponentFilesRetired', data: { fullVersions: ['1.0.0', '1.0.2', '1.0.3', '1.0.4', '1.0.5', '1.0.6'] } });
      const unpinned: ComponentEvent = { type: 'ComponentUnpinned', data: { componentType, version: '1.0.1', by: 'bob', at } };
      const [after] = spec.given([...history, event!, unpinned]).when({ ...retention, keepFullVersions: 3 }).events();
      expect(after).toMatchObject({ type: 'ComponentFilesRetired', data: { fullVersions: ['1.0.1'] } });
    });
  });
});
