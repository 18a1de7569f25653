import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { REPO_ROOT, waitFor } from '@herald/testing';

/** Debian's chromium package; .ci/run installs it when it is missing. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless, and quiet on the network: without the background-networking flags Chromium keeps
 * trying to reach Google's services, which a closed network answers slowly or not at all.
 */
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A fresh Chromium; launch() gives it a new, empty profile that goes away when it closes. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** What the page functions here use of a DOM element (the project's types leave out the DOM). */
interface PageElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
}

export const ARTIFACTS_DIR = path.join(REPO_ROOT, 'test', 'artifacts');


/**
 * The admin dashboard as a user sees it, driven by role and label like a person with a screen
 * reader would: if a test cannot find a control this way, neither can they.
 */
export class DashboardPage {
  /** Uncaught page errors and console errors (a CSP violation is one), for a test to assert none. */
  readonly errors: string[] = [];

  constructor(readonly page: Page) {
    page.on('pageerror', (err) => this.errors.push(`page error: ${err.message}`));
    page.on('console', (message) => {
      // 4xx answers (a refused token, a bad value, an unknown agent) are the page's to show;
      // Chromium still logs each as a failed request.
      if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) {
        this.errors.push(`console: ${message.text()}`);
      }
    });
  }

  /**
   * Waits until what `probe` reads from the page is `accepted`. The page polls every 1.5 s, so a
   * few seconds do on a quiet machine; the deadline is for a loaded one. On a timeout it says what
   * it read last and keeps a screenshot.
   */
  async eventually<T>(probe: () => Promise<T>, what: string, accepted: (value: T) => boolean = (v) => v !== undefined && v !== false, timeoutMs = 60_000): Promise<T> {
    let last: T | undefined;
    try {
      return await waitFor(
        async () => {
          last = await probe();
          return accepted(last) ? { value: last } : undefined;
        },
        { timeoutMs, intervalMs: 200, what },
      ).then((r) => r.value);
    } catch (err) {
      const file = await this.screenshot('dashboard-failure.png').catch(() => 'none');
      throw new Error(`${(err as Error).message}; last read: ${JSON.stringify(last)}; screenshot: ${file}`, { cause: err });
    }
  }

  async open(url: string): Promise<void> {
    await this.page.goto(url);
  }

  async login(token: string): Promise<void> {
    await this.page.getByLabel('Access token').fill(token);
    await this.page.getByRole('button', { name: 'Log in' }).click();
  }

  async logout(): Promise<void> {
    await this.page.getByRole('button', { name: 'Log out' }).click();
    await this.page.getByLabel('Access token').waitFor();
  }

  /** The login form's error, once shown. */
  async loginError(): Promise<string> {
    const error = this.page.locator('#login-error');
    await error.waitFor({ state: 'visible' });
    return (await error.textContent()) ?? '';
  }

  /** Waits until the page is logged in and has drawn the settings it read. */
  async waitLoggedIn(): Promise<void> {
    await this.page.getByRole('button', { name: 'Log out' }).waitFor();
    await this.eventually(() => this.page.getByLabel('Attempts in all').inputValue(), 'the settings form to be filled', (v) => v !== '');
  }

  settingsResult(): Locator {
    return this.page.locator('#settings-result');
  }

  async saveSettings(): Promise<void> {
    await this.page.getByRole('button', { name: 'Save settings' }).click();
  }

  /** The notice shown across the page (e.g. for a read-only token), once shown. */
  async notice(): Promise<string> {
    const notice = this.page.locator('#notice');
    await notice.waitFor({ state: 'visible' });
    return (await notice.textContent()) ?? '';
  }

  /** Number shown in the Agents summary for a status ('online', 'outdated', 'up-to-date', …). */
  async agentStat(key: string): Promise<number | undefined> {
    const dd = this.page.locator(`#agent-summary [data-stat="${key}"] dd`);
    if ((await dd.count()) === 0) return undefined;
    return Number(((await dd.textContent()) ?? '').replace(/,/g, ''));
  }

  rollout(componentType: string, version: string): Locator {
    return this.page.getByRole('article', { name: `Rollout ${componentType} ${version}`, exact: true });
  }

  /**
   * What a rollout card shows: the percentage, the progress bar's value and every count by key.
   * Read in one evaluation in the page, so all of it comes from one drawing of the card: the page
   * redraws the card whenever the counts change, and values read one by one (a round trip each,
   * slow on a loaded machine) mixed drawings, e.g. "notified 0" beside "100%" and "5 / 5" scanned.
   */
  async rolloutView(componentType: string, version: string): Promise<{ percent: string; valueNow: string | null; status: string; counts: Record<string, string> } | undefined> {
    const views = await this.rollout(componentType, version).evaluateAll((cards) =>
      cards.map((card) => {
        const text = (el: PageElement | null) => (el?.textContent ?? '').trim();
        const counts: Record<string, string> = {};
        card.querySelectorAll('[data-count]').forEach((item: PageElement) => (counts[item.getAttribute('data-count')!] = text(item.querySelector('dd, strong'))));
        const bar = card.querySelector('[role="progressbar"]');
        return { percent: text(card.querySelector('.percent')), valueNow: bar ? bar.getAttribute('aria-valuenow') : null, status: text(card.querySelector('.badge')), counts };
      }),
    );
    if (views.length > 1) throw new Error(`${views.length} cards for the rollout of ${componentType} ${version}`);
    return views[0];
  }

  /** The entry types of the timeline shown, in order. */
  async timelineTypes(): Promise<string[]> {
    return this.page.locator('#timeline-body tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-type') ?? ''));
  }

  async screenshot(name: string): Promise<string> {
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    const file = path.join(ARTIFACTS_DIR, name);
    await this.page.screenshot({ path: file, fullPage: true });
    return file;
  }

  /** One part of the page, as a PNG under test/artifacts. */
  async screenshotOf(selector: string, name: string): Promise<string> {
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    const file = path.join(ARTIFACTS_DIR, name);
    await this.page.locator(selector).screenshot({ path: file });
    return file;
  }
}
