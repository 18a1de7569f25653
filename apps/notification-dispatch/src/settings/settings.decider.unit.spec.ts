import { DeciderSpec } from '@herald/testing';
import { DEFAULT_SETTINGS, EventTriggeredSettings, type SettingsChanged, settingsDecider } from './settings.decider';

const spec = DeciderSpec(settingsDecider);
const now = new Date('2026-11-30T08:00:00.000Z');
const at = now.toISOString();
const change = (patch: Partial<EventTriggeredSettings>, by = 'alice') => ({ type: 'ChangeSettings', patch, by, now }) as const;
const changed = (settings: EventTriggeredSettings, changes: SettingsChanged['data']['changes'], by = 'alice'): SettingsChanged => ({
  type: 'SettingsChanged',
  data: { settings, changes, by, at },
});

describe('settings decider', () => {
  it('starts from the product defaults: R1 and R2 on, R1a and R3 off, 15 minutes and 5 attempts', () => {
    expect(settingsDecider.initialState()).toMatchObject({
      notifyOnDownload: true,
      includeIndependentAndOffline: false,
      updateOnReconnect: true,
      scanAfterUpdate: false,
      resendIntervalSeconds: 900,
      maxAttempts: 5,
    });
    expect(EventTriggeredSettings.parse(DEFAULT_SETTINGS)).toEqual(DEFAULT_SETTINGS);
  });

  it('records the whole new settings, each field that changed with its old and new value, and who changed them', () => {
    spec
      .given([])
      .when(change({ scanAfterUpdate: true, maxAttempts: 3 }))
      .then([
        changed({ ...DEFAULT_SETTINGS, scanAfterUpdate: true, maxAttempts: 3 }, [
          { field: 'scanAfterUpdate', from: false, to: true },
          { field: 'maxAttempts', from: 5, to: 3 },
        ]),
      ]);
  });

  it('decides against the settings as they are now, so a second change keeps the first', () => {
    const first = changed({ ...DEFAULT_SETTINGS, scanAfterUpdate: true }, [{ field: 'scanAfterUpdate', from: false, to: true }]);
    spec
      .given([first])
      .when(change({ resendIntervalSeconds: 60 }, 'bob'))
      .then([changed({ ...DEFAULT_SETTINGS, scanAfterUpdate: true, resendIntervalSeconds: 60 }, [{ field: 'resendIntervalSeconds', from: 900, to: 60 }], 'bob')]);
  });

  it('records nothing when nothing changes (a PUT of the same settings, an empty PATCH)', () => {
    spec.given([]).when(change({ ...DEFAULT_SETTINGS })).thenNothing();
    spec.given([]).when(change({})).thenNothing();
  });
});
