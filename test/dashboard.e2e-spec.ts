import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext } from 'playwright-core';
import { HeraldAgent, MemoryComponentStore } from '@herald/agent-sdk';
import type { ServiceName} from '@herald/testing';
import { HeraldSystem, UpstreamFixture, sleep, waitFor } from '@herald/testing';
import { DashboardPage, launchChromium } from './support/dashboard-page';

jest.setTimeout(180_000);

const ADMIN_TOKEN = 'dashboard-e2e-admin-token-0123456789';
const READ_TOKEN = 'dashboard-e2e-read-token-0123456789';
const TYPE = 'virus-pattern';
const ENROLMENT_TOKEN = 'dashboard-e2e-enrolment-token-0123456789';
const AGENT_IDS = ['dash-agent-1', 'dash-agent-2', 'dash-agent-3', 'dash-agent-4', 'dash-agent-5'];
/** How long Playwright waits for an element or a navigation: Chromium on a loaded machine is slow. */
const PAGE_TIMEOUT_MS = 60_000;

/**
 * The admin dashboard in headless Chromium against the three services and simulated agents:
 * log in, change a setting, check for updates, watch the rollout reach 100%, read a timeline.
 */
describe('admin dashboard', () => {
  const upstream = new UpstreamFixture();
  const agents: HeraldAgent[] = [];
  let system: HeraldSystem;
  let browser: Browser;
  let context: BrowserContext;
  let dashboard: DashboardPage;

  /** The services' API with a token, to check what the page claims against the source. */
  async function api<T>(service: ServiceName, method: string, path: string, token = ADMIN_TOKEN): Promise<T> {
    const res = await system.http<T>(service, method, path, undefined, token);
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  beforeAll(async () => {
    await upstream.start();
    // Both are waited for even when one fails, so afterAll stops whatever did start (a system
    // left running when Chromium is missing kept Jest from exiting).
    const [started, launched] = await Promise.allSettled([
      HeraldSystem.start({
        label: 'dashboard',
        withDashboard: true,
        env: {
          UPSTREAM_MANIFEST_URL: upstream.manifestUrl,
          UPSTREAM_PUBLIC_KEY: upstream.publicKey,
          ADMIN_TOKENS: `alice:${ADMIN_TOKEN}`,
          READ_TOKENS: `viewer:${READ_TOKEN}`,
          AGENT_ENROLMENT_TOKENS: `branch-office:${ENROLMENT_TOKEN}`,
        },
      }),
      launchChromium(),
    ]);
    if (started.status === 'fulfilled') system = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    for (const r of [started, launched]) if (r.status === 'rejected') throw r.reason;
  });

  afterAll(async () => {
    await Promise.allSettled(agents.map((a) => a.stop({ goodbye: false })));
    await browser?.close();
    await system?.stop();
    await upstream.stop();
  });

  beforeEach(async () => {
    // A new context per test: its own sessionStorage, so no test starts logged in.
    context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    context.setDefaultTimeout(PAGE_TIMEOUT_MS);
    dashboard = new DashboardPage(await context.newPage());
    await dashboard.open(system.dashboardUrl);
  });

  afterEach(async () => {
    if (!context) return; // beforeAll failed: its error is the one to read
    const errors = dashboard.errors;
    await context.close();
    expect(errors).toEqual([]);
  });

  it('refuses a wrong token on the login form, and sends a revoked session back to it', async () => {
    await dashboard.login('this-token-is-not-configured-0000');
    expect(await dashboard.loginError()).toMatch(/not accepted/);
    expect(await dashboard.page.locator('#app').isHidden()).toBe(true);
    expect(await dashboard.page.evaluate('sessionStorage.length')).toBe(0);

    // A token that stops being accepted mid-session (revoked, mistyped in the store) logs out.
    await dashboard.page.evaluate(`sessionStorage.setItem('herald.dashboard.token', 'revoked-token-000000000000')`);
    await dashboard.page.reload();
    expect(await dashboard.loginError()).toMatch(/no longer accepted \(401\)/);
    expect(await dashboard.page.getByLabel('Access token').isVisible()).toBe(true);
  });

  it('lets a read-only token look, and says from the start that it cannot change anything', async () => {
    const before = await api<{ scanAfterUpdate: boolean }>('notification-dispatch', 'GET', '/settings/event-triggered-updates');
    await dashboard.login(READ_TOKEN);
    await dashboard.waitLoggedIn();

    // The role comes from GET /auth/whoami at login, before any change is tried.
    expect(await dashboard.notice()).toMatch(/Read-only token/);
    expect(await dashboard.page.locator('#session-label').textContent()).toMatch(/read-only/);
    expect(await dashboard.page.getByRole('button', { name: 'Save settings' }).isDisabled()).toBe(true);
    expect(await dashboard.page.getByRole('button', { name: 'Check for updates now' }).isDisabled()).toBe(true);
    expect(await api('notification-dispatch', 'GET', '/settings/event-triggered-updates')).toEqual(before);

    await dashboard.logout();
  });

  it('lists agents waiting for admission and lets an admin accept or reject them', async () => {
    // What the broker asks agent-presence on an agent's first login with its own identity.
    const brokerLogin = async (agentId: string) => {
      const res = await fetch(`${system.url('agent-presence')}/auth/user`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: agentId, password: `${ENROLMENT_TOKEN}:${randomBytes(32).toString('base64url')}` }).toString(),
      });
      return res.text();
    };
    expect(await brokerLogin('dash-pending-1')).toBe('deny');
    expect(await brokerLogin('dash-pending-2')).toBe('deny');

    await dashboard.login(ADMIN_TOKEN);
    await dashboard.waitLoggedIn();
    const waiting = () => dashboard.page.locator('#admission-body tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-agent') ?? ''));
    await dashboard.eventually(waiting, 'both agents listed as waiting', (ids) => ids.includes('dash-pending-1') && ids.includes('dash-pending-2'));
    expect(await dashboard.page.locator('tr[data-agent="dash-pending-1"]').textContent()).toContain('branch-office');

    await dashboard.page.locator('tr[data-agent="dash-pending-1"]').getByRole('button', { name: 'Accept' }).click();
    await dashboard.page.locator('tr[data-agent="dash-pending-2"]').getByRole('button', { name: 'Reject' }).click();
    await dashboard.eventually(waiting, 'the waiting list to empty', (ids) => !ids.includes('dash-pending-1') && !ids.includes('dash-pending-2'));
    expect(await dashboard.page.locator('#admission').isHidden()).toBe(true);
    expect(await api('agent-presence', 'GET', '/identities/dash-pending-1')).toMatchObject({ status: 'accepted', decidedBy: 'alice' });
    expect(await api('agent-presence', 'GET', '/identities/dash-pending-2')).toMatchObject({ status: 'rejected', decidedBy: 'alice' });
    await dashboard.logout();
  });

  it('keeps the settings form disabled, and says so, until the settings are read; asks for an unknown agent once', async () => {
    const page = dashboard.page;
    const settingsUrl = '**/dispatch/settings/event-triggered-updates';
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route(settingsUrl, async (route) => {
      await held;
      await route.continue();
    });
    const r2 = page.getByLabel('Update outdated agents when they connect (R2)');
    try {
      await dashboard.login(ADMIN_TOKEN);
      await page.getByRole('button', { name: 'Log out' }).waitFor();
      // Unread, the rules would all look off: the form is disabled and says it is loading.
      expect(await page.locator('#settings-loading').textContent()).toBe('Loading the settings…');
      expect(await r2.isDisabled()).toBe(true);
      expect(await page.getByRole('button', { name: 'Save settings' }).isDisabled()).toBe(true);
      expect(await page.locator('#settings-form').getAttribute('aria-busy')).toBe('true');
    } finally {
      release();
    }
    await dashboard.eventually(() => r2.isEnabled(), 'the form to be filled and enabled');
    const settings = await api<{ updateOnReconnect: boolean }>('notification-dispatch', 'GET', '/settings/event-triggered-updates');
    expect(await r2.isChecked()).toBe(settings.updateOnReconnect);
    expect(await page.locator('#settings-loading').isHidden()).toBe(true);
    await page.unroute(settingsUrl);

    // An agent nobody knows: the answer is shown and stays, and the page does not ask again each poll.
    const asked: string[] = [];
    page.on('request', (req) => {
      if (req.url().includes('/agents/no-such-agent/timeline')) asked.push(req.url());
    });
    await page.getByLabel('Agent ID').fill('no-such-agent');
    await page.getByRole('button', { name: 'Show timeline' }).click();
    const unknown = async () => /unknown agent no-such-agent/.test((await page.locator('#timeline .section-error').textContent()) ?? '');
    await dashboard.eventually(unknown, 'the unknown agent message');
    await sleep(3 * 1_500 + 500); // three polling rounds
    expect(asked).toHaveLength(1);
    expect(await unknown()).toBe(true);
    await dashboard.logout();
  });

  it('changes a setting, triggers a rollout, shows it reach 100% and shows an agent’s timeline', async () => {
    const page = dashboard.page;
    await dashboard.login(ADMIN_TOKEN);
    await dashboard.waitLoggedIn();
    expect(await page.locator('#session-label').textContent()).toBe('Logged in');

    // ---- Settings: a bad value is refused with the service's message, a good one is saved.
    await page.getByLabel('Run Scan Now after an update (R3)').check();
    await page.getByLabel('Attempts in all').fill('0');
    await dashboard.saveSettings();
    const errors = page.getByRole('alert', { name: 'Settings errors' });
    await errors.waitFor({ state: 'visible' });
    expect(await errors.textContent()).toMatch(/Attempts in all \(R4\): Too small/);
    expect(await page.getByLabel('Attempts in all').getAttribute('aria-invalid')).toBe('true');
    expect((await api<{ maxAttempts: number }>('notification-dispatch', 'GET', '/settings/event-triggered-updates')).maxAttempts).toBe(5);

    // Another admin changes another field meanwhile; the page sees it (in the history) while
    // this form has unsaved edits, and saving those must not undo it.
    const other = await system.http('notification-dispatch', 'PATCH', '/settings/event-triggered-updates', { ackTimeoutSeconds: 45 }, ADMIN_TOKEN);
    expect(other.status).toBe(200);
    await dashboard.eventually(async () => /Acknowledgement timeout, seconds \(R4\) 60 → 45/.test((await page.locator('#settings-history').textContent()) ?? ''), 'the other change in the history');

    await page.getByLabel('Attempts in all').fill('3');
    await dashboard.saveSettings();
    await dashboard.eventually(async () => /^Saved: /.test((await dashboard.settingsResult().textContent()) ?? ''), 'the settings to be saved');
    expect(await errors.isHidden()).toBe(true);
    expect(await api('notification-dispatch', 'GET', '/settings/event-triggered-updates')).toMatchObject({ scanAfterUpdate: true, maxAttempts: 3, ackTimeoutSeconds: 45 });
    const history = await api<{ changes: Array<{ by: string; changes: Array<{ field: string; from: unknown; to: unknown }> }> }>(
      'notification-dispatch',
      'GET',
      '/settings/event-triggered-updates/history',
    );
    expect(history.changes.at(-1)).toMatchObject({
      by: 'alice',
      changes: expect.arrayContaining([
        { field: 'scanAfterUpdate', from: false, to: true },
        { field: 'maxAttempts', from: 5, to: 3 },
      ]),
    });
    await dashboard.eventually(async () => /by alice: .*Attempts in all \(R4\) 5 → 3/.test((await page.locator('#settings-history').textContent()) ?? ''), 'the change in the history');

    // ---- Five simulated agents on the old version appear on the page as they connect.
    for (const agentId of AGENT_IDS) {
      const agent = new HeraldAgent({ agentId, amqpUrl: system.amqpUrl, store: new MemoryComponentStore([{ type: TYPE, version: '17.0.0' }]), heartbeatIntervalMs: 1_000 });
      agents.push(agent);
      await agent.start();
    }
    // Dispatch must know them before the version arrives, or they would not be in its rollout.
    for (const agentId of AGENT_IDS) {
      await waitFor(async () => (await system.http('notification-dispatch', 'GET', `/agents/${agentId}/timeline`, undefined, ADMIN_TOKEN)).status === 200, {
        what: `dispatch to know ${agentId}`,
        timeoutMs: 60_000,
      });
    }
    await dashboard.eventually(async () => (await dashboard.agentStat('online')) === AGENT_IDS.length, 'five agents online on the page');

    // ---- A new version upstream; "Check for updates now" brings it in and starts the rollout.
    upstream.publish({ type: TYPE, version: '17.1.0', content: randomBytes(64 * 1024) });
    await page.getByRole('button', { name: 'Check for updates now' }).click();
    await dashboard.eventually(
      async () => /Downloaded and verified: virus-pattern 17\.1\.0/.test((await page.getByRole('status', { name: 'Check report' }).textContent()) ?? ''),
      'the check report',
    );

    const done = await dashboard.eventually(
      () => dashboard.rolloutView(TYPE, '17.1.0'),
      'the rollout to reach 100% on the page, scans included',
      (view) => view?.percent === '100%' && view.counts.scanned === '5 / 5',
    );
    expect(done).toEqual({
      percent: '100%',
      valueNow: '100',
      status: 'complete',
      counts: expect.objectContaining({
        targeted: '5',
        notified: '5',
        acknowledged: '5',
        updated: '5',
        failed: '0',
        'gave-up': '0',
        'in-progress': '0',
        'skipped-offline': '0',
        'skipped-independent': '0',
        'skipped-no-privilege': '0',
      }),
    });
    // What the page shows is what the service says.
    const [rollout] = (await api<{ rollouts: Array<{ rolloutId: string; complete: boolean; counts: Record<string, unknown> }> }>('notification-dispatch', 'GET', '/rollouts')).rollouts;
    expect(rollout).toMatchObject({ complete: true, counts: { targeted: 5, updated: 5, failed: 0, gaveUp: 0 } });

    // ---- Steering: pause and resume from the card, recorded with who did it.
    const card = dashboard.rollout(TYPE, '17.1.0');
    await card.getByRole('button', { name: 'Pause virus-pattern 17.1.0' }).click();
    await dashboard.eventually(
      async () => (await dashboard.rolloutView(TYPE, '17.1.0'))?.status === 'paused' && /^Paused: /.test((await card.locator('.rollout-result').textContent()) ?? ''),
      'the card to show the rollout paused',
    );
    await card.getByRole('button', { name: 'Resume virus-pattern 17.1.0' }).click();
    await dashboard.eventually(
      async () => (await dashboard.rolloutView(TYPE, '17.1.0'))?.status === 'complete' && /^Resumed: 0 held attempts sent/.test((await card.locator('.rollout-result').textContent()) ?? ''),
      'the card to show the rollout running (complete) again',
    );
    expect(await card.getByRole('button', { name: 'Retry failed (0) virus-pattern 17.1.0' }).isDisabled()).toBe(true);
    const { decisions } = await api<{ decisions: Array<{ action: string; by: string }> }>('notification-dispatch', 'GET', `/rollouts/${rollout!.rolloutId}/decisions`);
    expect(decisions.map((d) => [d.action, d.by])).toEqual([
      ['paused', 'alice'],
      ['resumed', 'alice'],
    ]);

    // The other sections caught up on their own.
    await dashboard.eventually(async () => (await dashboard.agentStat('up-to-date')) === 5 && (await dashboard.agentStat('outdated')) === 0, 'every agent up to date on the page');
    // A section of its own, drawn from its own request of each polling round.
    await dashboard.eventually(async () => /virus-pattern\s*17\.1\.0/.test((await page.locator('#components-body').textContent()) ?? ''), 'virus-pattern 17.1.0 in the components');

    // ---- The rollout's agents, and one agent's timeline opened from there.
    await dashboard.rollout(TYPE, '17.1.0').getByRole('button', { name: 'Show agents of virus-pattern 17.1.0' }).click();
    await dashboard.eventually(async () => (await page.locator('#rollout-agents-body tr').count()) === AGENT_IDS.length, 'the rollout’s five agents');
    await page.locator('#rollout-agents-body').getByRole('button', { name: 'dash-agent-3' }).click();
    const timeline = await dashboard.eventually(
      () => dashboard.timelineTypes(),
      'dash-agent-3’s timeline with its update and scan',
      (types) => types.includes('ScanCompleted'),
    );
    expect(timeline.slice(0, 4)).toEqual(['UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted']);
    expect(await page.getByLabel('Agent ID').inputValue()).toBe('dash-agent-3');
    expect(await page.locator('#timeline-body tr[data-type="UpdateCompleted"]').textContent()).toMatch(/virus-pattern 17\.0\.0 → 17\.1\.0 \(full, 64\.0 KiB\)/);
    // What dispatch knows of the agent comes from agent-presence, apart from the timeline's entries.
    await dashboard.eventually(
      async () => /^dash-agent-3: online · virus-pattern 17\.1\.0/.test((await page.locator('#timeline-agent-state').textContent()) ?? ''),
      'dash-agent-3 online on virus-pattern 17.1.0 above its timeline',
    );

    // The form finds an agent by id too, and says when there is none.
    await page.getByLabel('Agent ID').fill('no-such-agent');
    await page.getByRole('button', { name: 'Show timeline' }).click();
    await dashboard.eventually(async () => /unknown agent no-such-agent/.test((await page.locator('#timeline .section-error').textContent()) ?? ''), 'the unknown agent message');
    await page.getByLabel('Agent ID').fill('dash-agent-1');
    await page.getByRole('button', { name: 'Show timeline' }).click();
    await dashboard.eventually(async () => (await dashboard.timelineTypes()).includes('UpdateCompleted') && (await page.locator('#timeline .section-error').isHidden()), 'dash-agent-1’s timeline');

    const file = await dashboard.screenshot('dashboard.png');
    console.log(`dashboard screenshot: ${file}`);

    // Abort asks first; an aborted rollout offers no controls.
    page.once('dialog', (dialog) => void dialog.accept());
    await card.getByRole('button', { name: 'Abort virus-pattern 17.1.0' }).click();
    await dashboard.eventually(
      async () => (await dashboard.rolloutView(TYPE, '17.1.0'))?.status === 'aborted' && /^Aborted: 0 open notifications closed/.test((await card.locator('.rollout-result').textContent()) ?? ''),
      'the card to show the rollout aborted',
    );
    expect(await card.getByRole('button', { name: 'Pause virus-pattern 17.1.0' }).count()).toBe(0);
  });
});
