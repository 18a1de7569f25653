import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext } from 'playwright-core';
import { HeraldSystem, type ServiceName, UpstreamFixture, waitFor } from '@herald/testing';
import { Fleet } from '../apps/agent-simulator/src/fleet';
import { DashboardPage, launchChromium } from './support/dashboard-page';

jest.setTimeout(300_000);

const ADMIN_TOKEN = 'dashboard-fleet-admin-token-0123456789';
const TYPE = 'fleet-pattern';
const AGENTS = 1_000;
const SILENT = 100;
const PAGE_TIMEOUT_MS = 60_000;

/**
 * The console at fleet size, in headless Chromium: a thousand simulated agents (a tenth of them
 * never acknowledge), the agent list paged in natural order and searched, a bulk grant of the
 * Independent privilege, a rollout paused (the silent agents' resends held), resumed and aborted
 * from its card, one agent updated now from its page, and a rollback of the fleet from the
 * component's page (pin, then unpin).
 */
describe('admin dashboard with a thousand agents', () => {
  const upstream = new UpstreamFixture();
  let system: HeraldSystem;
  let browser: Browser;
  let context: BrowserContext;
  let dashboard: DashboardPage;
  let fleet: Fleet | null = null;

  const api = async <T>(service: ServiceName, method: string, path: string, body?: unknown): Promise<T> => {
    const res = await system.http<T>(service, method, path, body, ADMIN_TOKEN);
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };

  beforeAll(async () => {
    await upstream.start();
    const [started, launched] = await Promise.allSettled([
      HeraldSystem.start({
        label: 'dashboard-fleet',
        withDashboard: true,
        env: { UPSTREAM_MANIFEST_URL: upstream.manifestUrl, UPSTREAM_PUBLIC_KEY: upstream.publicKey, ADMIN_TOKENS: `alice:${ADMIN_TOKEN}`, HEARTBEAT_TIMEOUT_MS: '10000' },
      }),
      launchChromium(),
    ]);
    if (started.status === 'fulfilled') system = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    for (const r of [started, launched]) if (r.status === 'rejected') throw r.reason;
    upstream.publish({ type: TYPE, version: '1.0.0', content: randomBytes(16 * 1024) });
    await api('component-download', 'POST', '/components/check');
    fleet = new Fleet({
      amqpUrl: system.amqpUrl,
      agents: AGENTS,
      connections: 4,
      prefix: 'fleet',
      silent: SILENT / AGENTS,
      components: { [TYPE]: ['1.0.0'] },
      labels: { site: ['paris', 'lyon', 'berlin'] },
      heartbeatIntervalMs: 2_000,
    });
    await fleet.start();
    await waitFor(
      async () => Number((await system.sql<{ n: string }>(`SELECT count(*) AS n FROM notification_dispatch.directory_agents WHERE online AND agent_id LIKE 'fleet-%'`))[0]!.n) === AGENTS,
      { what: `dispatch to know all ${AGENTS} agents online`, timeoutMs: 120_000 },
    );
  });

  afterAll(async () => {
    await fleet?.stop();
    await browser?.close();
    await system?.stop();
    await upstream.stop();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    context.setDefaultTimeout(PAGE_TIMEOUT_MS);
    dashboard = new DashboardPage(await context.newPage());
    await dashboard.open(system.dashboardUrl);
  });

  afterEach(async () => {
    if (!context) return;
    const errors = dashboard.errors;
    await context.close();
    expect(errors).toEqual([]);
  });

  it('pages, searches and acts on a thousand agents, and steers their rollout', async () => {
    const page = dashboard.page;
    // Confirmations are accepted; a prompt gets the answer the step set.
    let promptAnswer = '';
    page.on('dialog', (dialog) => void (dialog.type() === 'prompt' ? dialog.accept(promptAnswer) : dialog.accept()));
    await dashboard.login(ADMIN_TOKEN);
    await dashboard.waitLoggedIn();
    const agentRows = () => page.locator('#agents-body tr td:first-child button').allTextContents();
    const count = () => page.locator('#agents-count').textContent();

    // ---- The list: natural order, fifty a page.
    await dashboard.eventually(count, 'the first page', (t) => t === 'Showing 1–50 of 1,000 agents.');
    expect((await agentRows()).slice(0, 4)).toEqual(['fleet-1', 'fleet-2', 'fleet-3', 'fleet-4']);
    await page.getByRole('button', { name: 'Next' }).click();
    await dashboard.eventually(count, 'the second page', (t) => t === 'Showing 51–100 of 1,000 agents.');
    expect((await agentRows())[0]).toBe('fleet-51');
    expect(await page.getByRole('button', { name: 'Previous' }).isEnabled()).toBe(true);

    // ---- Search, then a bulk grant of the privilege to what it found.
    await page.getByLabel('Search').fill('fleet-99');
    await dashboard.eventually(count, 'the search result', (t) => t === '11 agents.');
    expect(await agentRows()).toEqual(['fleet-99', ...Array.from({ length: 10 }, (_, i) => `fleet-${990 + i}`)]);
    await page.getByRole('button', { name: 'Grant Independent to all matching' }).click();
    await dashboard.eventually(() => page.getByRole('status', { name: 'Bulk action result' }).textContent(), 'the bulk grant', (t) => t === 'Granted: 11 changed of 11 matching.');
    expect((await api<{ privileges: { independentMode: boolean } }>('agent-presence', 'GET', '/agents/fleet-995')).privileges.independentMode).toBe(true);
    expect((await api<{ privileges: { independentMode: boolean } }>('agent-presence', 'GET', '/agents/fleet-98')).privileges.independentMode).toBe(false);
    await page.getByLabel('Search').fill('');
    await dashboard.eventually(count, 'the whole fleet again', (t) => t === 'Showing 1–50 of 1,000 agents.');

    // ---- Labels: the agents report a site (paris, lyon, berlin in turn); a third are in lyon.
    await page.getByLabel('Labels', { exact: true }).fill('site:lyon');
    await dashboard.eventually(count, 'the agents in lyon', (t) => t === 'Showing 1–50 of 333 agents.');
    expect((await agentRows()).slice(0, 3)).toEqual(['fleet-2', 'fleet-5', 'fleet-8']);
    expect(await page.locator('#agents-body tr').first().locator('.label').allTextContents()).toEqual(['site:lyon']);
    promptAnswer = 'ring:canary';
    await page.getByRole('button', { name: 'Label all matching…' }).click();
    await dashboard.eventually(() => page.getByRole('status', { name: 'Bulk action result' }).textContent(), 'the bulk label', (t) => t === 'Labelled: 333 changed of 333 matching.');
    await page.getByLabel('Labels', { exact: true }).fill('ring:canary site:lyon');
    await dashboard.eventually(count, 'the canary ring', (t) => t === 'Showing 1–50 of 333 agents.');
    await dashboard.eventually(() => page.locator('#agents-body tr').first().locator('.label-admin').allTextContents(), 'the admin label shown', (t) => t.join() === 'ring:canary');
    expect((await api<{ total: number }>('agent-presence', 'GET', '/agents?label=ring:canary&limit=1')).total).toBe(333);
    await page.getByLabel('Labels', { exact: true }).fill('');
    await dashboard.eventually(count, 'the whole fleet again', (t) => t === 'Showing 1–50 of 1,000 agents.');

    // ---- A release to a thousand agents, canary first: the 333 agents of the canary ring (set in
    // the settings form), then, once an admin promotes it, the rest; the silent ones keep it in
    // progress with resends.
    await api('notification-dispatch', 'PATCH', '/settings/event-triggered-updates', { ackTimeoutSeconds: 2, resendIntervalSeconds: 1, maxAttempts: 100, maxInFlight: 300 });
    await page.getByLabel('Canary group: agents with these labels (e.g. ring:canary)').fill('ring:canary');
    await page.getByLabel('The canary passes at this % updated').fill('80');
    await page.getByLabel('Once the canary passed').selectOption('manual');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await dashboard.eventually(() => page.locator('#settings-result').textContent(), 'the canary settings saved', (t) => t?.startsWith('Saved:') === true);
    upstream.publish({ type: TYPE, version: '1.1.0', content: randomBytes(16 * 1024) });
    await page.getByRole('button', { name: 'Check for updates now' }).click();
    const card = dashboard.rollout(TYPE, '1.1.0');
    await dashboard.eventually(() => dashboard.rolloutView(TYPE, '1.1.0'), 'the canary to pass and wait for approval', (v) => v?.status === 'awaiting approval', 120_000);
    const inCanary = await api<{ control: { canary: { agents: number; succeeded: number } }; counts: { notified: number } }>(
      'notification-dispatch',
      'GET',
      `/rollouts/${(await api<{ rollouts: Array<{ rolloutId: string; component: { version: string } }> }>('notification-dispatch', 'GET', '/rollouts')).rollouts.find((r) => r.component.version === '1.1.0')!.rolloutId}`,
    );
    expect(inCanary.control.canary.agents).toBe(333);
    expect(inCanary.control.canary.succeeded).toBeGreaterThanOrEqual(267);
    expect(inCanary.counts.notified).toBeLessThanOrEqual(333); // nobody outside the ring yet
    expect(await card.textContent()).toContain('waiting for an admin to promote it');
    await card.getByRole('button', { name: `Promote ${TYPE} 1.1.0` }).click();
    await dashboard.eventually(() => card.locator('.rollout-result').textContent(), 'the promotion', (t) => t === `Promoted: 667 more agents notified.`);
    await dashboard.eventually(
      () => dashboard.rolloutView(TYPE, '1.1.0'),
      'every answering agent updated',
      (v) => v?.counts.updated === formatted(AGENTS - SILENT),
      180_000,
    );
    const { rollouts } = await api<{ rollouts: Array<{ rolloutId: string; component: { version: string } }> }>('notification-dispatch', 'GET', '/rollouts');
    const rolloutId = rollouts.find((r) => r.component.version === '1.1.0')!.rolloutId;

    // Paused from the card: the silent agents' resends are held, none goes out.
    await card.getByRole('button', { name: `Pause ${TYPE} 1.1.0` }).click();
    await dashboard.eventually(
      async () => ((await dashboard.rolloutView(TYPE, '1.1.0'))?.status === 'paused' ? ((await card.textContent()) ?? '') : undefined),
      'every silent agent’s resend held',
      (text) => text !== undefined && text.includes(`${formatted(SILENT)} held until it is resumed`),
      60_000,
    );
    const sentWhilePaused = await attemptsSent(rolloutId);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await attemptsSent(rolloutId)).toBe(sentWhilePaused);

    await card.getByRole('button', { name: `Resume ${TYPE} 1.1.0` }).click();
    await dashboard.eventually(() => card.locator('.rollout-result').textContent(), 'the resume', (t) => t === `Resumed: ${formatted(SILENT)} held attempts sent.`);
    await waitFor(async () => (await attemptsSent(rolloutId)) >= sentWhilePaused + SILENT, { what: 'the held resends to go out', timeoutMs: 60_000 });

    // Aborted: the silent agents' notifications close, and the rollout is over.
    await card.getByRole('button', { name: `Abort ${TYPE} 1.1.0` }).click();
    const aborted = await dashboard.eventually(
      () => dashboard.rolloutView(TYPE, '1.1.0'),
      'the rollout aborted with its silent agents',
      (v) => v?.status === 'aborted' && v.counts.aborted === formatted(SILENT) && v.counts['in-progress'] === '0',
    );
    expect(aborted?.counts).toMatchObject({ updated: formatted(AGENTS - SILENT), aborted: formatted(SILENT) });

    // ---- Its progress over time, from the card (left open: the screenshot shows it).
    await card.getByRole('button', { name: `Show agents of ${TYPE} 1.1.0` }).click();
    const series = (key: string) => page.locator(`#rollout-chart polyline[data-series="${key}"]`);
    await dashboard.eventually(() => series('updated').getAttribute('data-last'), 'the progress chart', (v) => v === String(AGENTS - SILENT));
    expect(await series('sent').getAttribute('data-last')).toBe(String(AGENTS));
    expect(await series('failed').getAttribute('data-last')).toBe('0');
    // Cumulative counts: no line ever goes down (SVG's y grows downwards), and each starts at 0.
    for (const key of ['sent', 'acknowledged', 'updated']) {
      const ys = (await series(key).getAttribute('points'))!.split(' ').map((p) => Number(p.split(',')[1]));
      expect(ys).toHaveLength(60);
      expect(ys.every((y, i) => i === 0 || y <= ys[i - 1]!)).toBe(true);
      expect(ys[0]).toBeGreaterThan(ys.at(-1)!);
    }
    expect(await page.locator('#rollout-chart-svg').getAttribute('aria-label')).toMatch(
      /^Progress from \S+ \S+ to \S+ \S+ of 1,000 targeted agents: 1,000 sent, 900 acknowledged, 900 updated, 0 failed or given up$/,
    );
    // Its agents in natural id order, as the agent list has them.
    const firstIds = await page.locator('#rollout-agents-body tr td:first-child').evaluateAll((cells) => cells.slice(0, 3).map((c) => c.textContent));
    expect(firstIds).toEqual(['fleet-1', 'fleet-2', 'fleet-3']);
    console.log(`rollout chart: ${await dashboard.screenshotOf('#rollout-agents', 'dashboard-rollout-chart.png')}`);

    // ---- Compliance: the silent tenth is a version behind, and the export lists exactly them.
    const complianceRow = page.locator('#compliance-body tr[data-component="fleet-pattern"] td');
    await dashboard.eventually(() => complianceRow.allTextContents(), 'the compliance of the release', (cells) => cells.slice(0, 5).join('|') === `${TYPE}|1.1.0|900 of 1,000|100|100 × 1 behind`);
    expect(await page.locator('#compliance-agents-count').textContent()).toBe('The 10 longest of 100 agent components behind.');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export agents behind (CSV)' }).click()]);
    const csv = await readFile((await download.path())!, 'utf8');
    const lines = csv.trim().split(/\r?\n/);
    expect(lines).toHaveLength(1 + SILENT);
    expect(lines.slice(1).every((l) => l.includes(`${TYPE}`) && l.includes('1.0.0') && l.includes('1.1.0'))).toBe(true);

    // ---- One agent's page: update now (it is up to date), and its privilege from there.
    await page.getByLabel('Search').fill('fleet-77');
    await dashboard.eventually(count, 'fleet-77 and fleet-770 to 779', (t) => t === '11 agents.');
    await page.locator('#agents-body').getByRole('button', { name: 'fleet-77', exact: true }).click();
    await dashboard.eventually(async () => (await page.getByRole('group', { name: 'Actions on this agent' }).isVisible()) || undefined, 'the agent’s actions');
    await page.getByRole('button', { name: 'Update now', exact: true }).click();
    await dashboard.eventually(() => page.getByRole('status', { name: 'Agent action result' }).textContent(), 'the update-now answer', (t) => t === 'fleet-77 is up to date.');
    await page.getByRole('button', { name: 'Grant Independent privilege' }).click();
    await dashboard.eventually(() => page.getByRole('status', { name: 'Agent action result' }).textContent(), 'the grant', (t) => t === 'fleet-77: Independent privilege granted.');
    await dashboard.eventually(async () => (await page.getByRole('button', { name: 'Revoke Independent privilege' }).count()) === 1, 'the toggle to offer revoking');
    // Its labels: an admin's site over the agent's own, and a ring.
    promptAnswer = 'site:madrid ring:early';
    await page.getByRole('button', { name: 'Edit labels…' }).click();
    await dashboard.eventually(() => page.getByRole('status', { name: 'Agent action result' }).textContent(), 'the labels', (t) => t === 'fleet-77: labels ring:early site:madrid.');
    expect(await api<{ labels: Record<string, string>; adminLabels: Record<string, string> }>('agent-presence', 'GET', '/agents/fleet-77')).toMatchObject({
      labels: { site: 'madrid', ring: 'early' },
      adminLabels: { site: 'madrid', ring: 'early' },
    });

    // ---- A rollback from the component's page: pinned to 1.0.0, the agents on 1.1.0 go back to
    // it; unpinned, they return to 1.1.0.
    const componentResult = () => page.getByRole('status', { name: 'Component action result' }).textContent();
    await page.getByRole('button', { name: `Open ${TYPE}` }).click();
    await dashboard.eventually(() => page.locator('#component-pin').textContent(), 'the component page', (t) => t === 'Not pinned: agents follow the latest version (1.1.0).');
    expect(await page.locator('#component-versions-body tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-version')))).toEqual(['1.1.0', '1.0.0']);
    promptAnswer = 'bad pattern in 1.1.0';
    await page.getByRole('button', { name: `Pin ${TYPE} to 1.0.0` }).click();
    await dashboard.eventually(componentResult, 'the pin', (t) => t === `Pinned ${TYPE} to 1.0.0: agents on other versions are told to go to it.`);
    await dashboard.eventually(() => page.locator('#component-pin').textContent(), 'the pin shown', (t) => t?.startsWith('Pinned to 1.0.0 by alice') === true);
    expect(await page.locator(`#components-body tr[data-component="${TYPE}"] .pinned`).textContent()).toBe('1.0.0');
    await dashboard.eventually(
      () => dashboard.rolloutView(TYPE, '1.0.0 rollback'),
      'every answering agent rolled back',
      (v) => v?.counts.updated === formatted(AGENTS - SILENT) && v.counts['in-progress'] === '0',
      180_000,
    );
    expect(await dashboard.rollout(TYPE, '1.0.0 rollback').textContent()).toContain(`Rollback: alice pinned ${TYPE} to 1.0.0 (bad pattern in 1.1.0); agents on any other version go to it.`);
    expect((await api<{ total: number }>('agent-presence', 'GET', `/agents?component=${TYPE}&version=1.0.0&limit=1`)).total).toBe(AGENTS);

    await page.getByRole('button', { name: 'Unpin: back to the latest' }).click();
    await dashboard.eventually(componentResult, 'the unpin', (t) => t === `Unpinned ${TYPE}: agents go to the latest version, 1.1.0.`);
    await dashboard.eventually(
      () => dashboard.rolloutView(TYPE, '1.1.0 unpin'),
      'every answering agent back on 1.1.0',
      (v) => v?.counts.updated === formatted(AGENTS - SILENT),
      180_000,
    );
    expect((await api<{ total: number }>('agent-presence', 'GET', `/agents?component=${TYPE}&version=1.1.0&limit=1`)).total).toBe(AGENTS - SILENT);

    const file = await dashboard.screenshot('dashboard-fleet.png');
    console.log(`dashboard screenshot: ${file}`);
  });

  /** Update attempts recorded for the rollout's agents so far. */
  async function attemptsSent(rolloutId: string): Promise<number> {
    const [row] = await system.sql<{ n: string }>(
      `SELECT count(*) AS n FROM notification_dispatch.events e
        WHERE e.type = 'AttemptSent' AND e.stream_id IN (SELECT 'agent-' || agent_id FROM notification_dispatch.rollout_agents WHERE rollout_id = $1)`,
      [rolloutId],
    );
    return Number(row!.n);
  }
});

const formatted = (n: number): string => n.toLocaleString('en-US');
