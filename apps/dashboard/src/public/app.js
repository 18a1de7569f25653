// Herald dashboard: plain browser JavaScript, no build step, nothing from outside this origin.
// Every call goes to the dashboard's /api proxy with the admin's bearer token; the services
// decide what the token may do. The page stays live by polling (POLL_MS): simple, works through
// any proxy, and each answer is a complete picture, so a missed poll loses nothing.
'use strict';

(() => {
  const POLL_MS = 1500;
  /** Agents per page of the agent list. */
  const AGENTS_PAGE = 50;
  const TOKEN_KEY = 'herald.dashboard.token';
  const READ_ONLY_KEY = 'herald.dashboard.readOnly';
  const SETTINGS_PATH = '/dispatch/settings/event-triggered-updates';

  /** The settings form's fields, in the API's names, with the labels used in messages. */
  const SETTING_FIELDS = {
    notifyOnDownload: { kind: 'boolean', label: 'Notify on download (R1)' },
    includeIndependentAndOffline: { kind: 'boolean', label: 'Also Independent and offline agents (R1a)' },
    updateOnReconnect: { kind: 'boolean', label: 'Update on reconnect (R2)' },
    scanAfterUpdate: { kind: 'boolean', label: 'Scan Now after update (R3)' },
    resendIntervalSeconds: { kind: 'number', label: 'Resend interval, seconds (R4)' },
    maxAttempts: { kind: 'number', label: 'Attempts in all (R4)' },
    ackTimeoutSeconds: { kind: 'number', label: 'Acknowledgement timeout, seconds (R4)' },
    reportTimeoutSeconds: { kind: 'number', label: 'Report timeout, seconds' },
    maxInFlight: { kind: 'number', label: 'Agents updating at once, at most (R6)' },
    updateRetries: { kind: 'number', label: 'Retries of a failed update' },
    updateRetryDelaySeconds: { kind: 'number', label: 'First retry after, seconds' },
    updateRetryBackoff: { kind: 'number', label: 'Each retry waits this many times longer' },
    updateRetryJitter: { kind: 'number', label: 'Retry jitter (0–1)' },
    rolloutErrorThresholdPercent: { kind: 'number', label: 'Pause a rollout when more than this % of its finished agents failed (0: off)' },
    rolloutErrorThresholdMinFinished: { kind: 'number', label: '…once at least this many finished' },
    rolloutSpreadSeconds: { kind: 'number', label: 'Spread first notifications over, seconds (0: all at once)' },
    canaryLabels: { kind: 'labels', label: 'Canary group: agents with these labels' },
    canaryPercent: { kind: 'number', label: 'Canary group: this % of the targets (0: off)' },
    canarySuccessPercent: { kind: 'number', label: 'The canary passes at this % updated' },
    canaryApproval: { kind: 'choice', label: 'Once the canary passed' },
  };

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    readOnly: sessionStorage.getItem(READ_ONLY_KEY) === '1',
    /** The rollout whose agents are listed: { id, label }. */
    rollout: null,
    /** The component type whose page is open. */
    component: null,
    /** The agent whose timeline is shown. */
    timelineAgent: null,
    /** The service's answer when it does not know that agent: { agentId, error }; not asked again. */
    timelineUnknown: null,
    /** The settings as last read from the server. */
    settings: null,
    /** The settings the form was last filled from: a save sends only what differs from these. */
    formBase: null,
    /** The admin has edited the form: polling must not overwrite it. */
    settingsDirty: false,
    timer: null,
    refreshing: null,
    /** What each part of the page was last drawn from, to redraw only what changed. */
    drawn: new Map(),
    /** The answer to the last control command on each rollout, shown on its card. */
    rolloutResults: new Map(),
    /** The first agent of the page shown, and how many match the filters (from the last list). */
    agentsOffset: 0,
    agentsTotal: 0,
  };

  const $ = (id) => document.getElementById(id);

  // ---- API ------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body, message) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  function describeFailure(status, body) {
    const detail = body && typeof body === 'object' && typeof body.message === 'string' ? body.message : typeof body === 'string' ? body : '';
    switch (status) {
      case 401:
        return 'This token was not accepted (401).';
      case 403:
        return 'This is a read-only token: it may look but not change (403).';
      case 404:
        return detail || 'Not found (404).';
      case 502:
      case 503:
      case 504:
        return detail || `A Herald service is not answering (${status}).`;
      default:
        return detail ? `${detail} (${status})` : `The request failed with HTTP ${status}.`;
    }
  }

  /**
   * One call to a service through the dashboard's proxy. A 401 ends the session (back to the
   * login form); a 403 marks the token read-only. Other failures are thrown for the caller to
   * show where they happened.
   */
  async function api(method, path, body, { token = state.token, session = true } = {}) {
    const headers = { accept: 'application/json', authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await fetch(`/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch (err) {
      throw new ApiError(0, null, `The dashboard is not answering (${err.message}).`);
    }
    const text = await res.text();
    let data;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = text;
    }
    if (session && res.status === 401) logout('Your token is no longer accepted (401). Log in again.');
    if (session && res.status === 403) markReadOnly();
    if (!res.ok) throw new ApiError(res.status, data, describeFailure(res.status, data));
    return data;
  }

  // ---- DOM helpers ----------------------------------------------------------------------------

  /** Builds an element; text is always set as text, never parsed as HTML. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = String(value);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'width') el.style.width = value; // CSSOM, which the page's CSP allows
      else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  /** Redraws a part of the page only when its data changed, so focus and selection survive polling. */
  function draw(key, data, render) {
    const json = JSON.stringify(data);
    if (state.drawn.get(key) === json) return;
    state.drawn.set(key, json);
    render(data);
  }

  function sectionError(sectionId, message) {
    const el = document.querySelector(`#${sectionId} .section-error`);
    el.textContent = message || '';
    el.hidden = !message;
  }

  const pad = (n, width = 2) => String(n).padStart(width, '0');
  function formatTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  const timeCell = (iso) => h('td', {}, h('time', { datetime: iso, title: iso, text: formatTime(iso) }));
  const formatCount = (n) => Number(n || 0).toLocaleString('en');
  function formatBytes(n) {
    if (typeof n !== 'number') return '—';
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }
  const components = (list) => (Array.isArray(list) ? list.map((c) => `${c.type} ${c.version}`).join(', ') : '');

  // ---- Session --------------------------------------------------------------------------------

  function showApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('session').hidden = false;
    showReadOnly();
  }

  function logout(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(READ_ONLY_KEY);
    Object.assign(state, { token: null, readOnly: false, rollout: null, component: null, timelineAgent: null, timelineUnknown: null, settings: null, formBase: null, settingsDirty: false });
    state.rolloutResults.clear();
    state.agentsOffset = 0;
    // The next session's form waits for its own settings.
    settingsLoading(true);
    clearTimeout(state.timer);
    state.drawn.clear();
    // Nothing read with the old token stays on screen.
    for (const id of ['components-body', 'agent-summary', 'agents-body', 'rollout-list', 'rollout-agents-body', 'rollout-chart-svg', 'rollout-chart-legend', 'timeline-body', 'settings-history', 'check-report', 'agents-bulk-result', 'agent-action-result', 'component-versions-body', 'component-pin', 'component-action-result', 'component-rejections']) $(id).replaceChildren();
    $('agent-actions').hidden = true;
    $('component-page').hidden = true;
    $('filter-q').value = '';
    $('filter-labels').value = '';
    $('rollout-agents').hidden = true;
    $('rollout-chart').hidden = true;
    $('timeline-table').hidden = true;
    $('timeline-agent-state').textContent = '';
    $('app').hidden = true;
    $('session').hidden = true;
    $('login').hidden = false;
    $('live-status').textContent = '';
    hideNotice();
    const error = $('login-error');
    error.textContent = message || '';
    error.hidden = !message;
    $('token').value = '';
    $('token').focus();
  }

  function markReadOnly() {
    if (!state.readOnly) {
      state.readOnly = true;
      sessionStorage.setItem(READ_ONLY_KEY, '1');
    }
    showReadOnly();
    showNotice('Read-only token: you can look at everything, but changing settings or checking for updates needs an admin token.');
  }

  function showReadOnly() {
    $('session-label').textContent = state.readOnly ? 'Logged in with a read-only token' : 'Logged in';
    for (const button of [$('check-now'), document.querySelector('#settings-form button[type=submit]')]) {
      button.disabled = state.readOnly;
      button.title = state.readOnly ? 'Needs an admin token' : '';
    }
  }

  function showNotice(text) {
    $('notice-text').textContent = text;
    $('notice').hidden = false;
  }
  function hideNotice() {
    $('notice').hidden = true;
  }

  async function login(event) {
    event.preventDefault();
    const token = $('token').value.trim();
    const error = $('login-error');
    error.hidden = true;
    if (!token) return;
    const button = event.submitter || $('login-form').querySelector('button');
    button.disabled = true;
    let who;
    try {
      // The token's name and role, so a read-only session is known before it tries a change.
      who = await api('GET', '/dispatch/auth/whoami', undefined, { token, session: false });
    } catch (err) {
      error.textContent =
        err.status === 401
          ? 'This token was not accepted. Check it and try again.'
          : err.status === 403
            ? 'This token may not read the dashboard (403).'
            : `Could not check the token: ${err.message}`;
      error.hidden = false;
      return;
    } finally {
      button.disabled = false;
    }
    state.token = token;
    state.readOnly = who.role !== 'admin';
    sessionStorage.setItem(TOKEN_KEY, token);
    if (state.readOnly) sessionStorage.setItem(READ_ONLY_KEY, '1');
    else sessionStorage.removeItem(READ_ONLY_KEY);
    $('token').value = '';
    showApp();
    if (state.readOnly) markReadOnly();
    await refresh();
    schedule();
  }

  // ---- Polling --------------------------------------------------------------------------------

  function schedule() {
    clearTimeout(state.timer);
    if (state.token) state.timer = setTimeout(tick, POLL_MS);
  }

  async function tick() {
    // A hidden tab does not poll; it catches up when it is shown again.
    if (!document.hidden) await refresh();
    schedule();
  }

  /** Reloads every part of the page; concurrent calls share one round. */
  function refresh() {
    if (!state.token) return Promise.resolve();
    state.refreshing ??= (async () => {
      const results = await Promise.allSettled([loadComponents(), loadComponent(), loadCompliance(), loadAgents(), loadAdmission(), loadRollouts(), loadRolloutAgents(), loadTimeline(), loadSettings()]);
      if (!state.token) return;
      const failed = results.filter((r) => r.status === 'rejected').length;
      $('live-status').textContent = failed
        ? `Live: some data could not be loaded (${formatTime(new Date().toISOString())})`
        : `Live: updated ${formatTime(new Date().toISOString())}`;
    })().finally(() => (state.refreshing = null));
    return state.refreshing;
  }

  /** Runs a loader's request and shows its failure in its section (re-thrown for the live status). */
  async function guarded(sectionId, load) {
    try {
      await load();
      sectionError(sectionId, '');
    } catch (err) {
      if (!state.token) return;
      sectionError(sectionId, err.message);
      throw err;
    }
  }

  // ---- Components -----------------------------------------------------------------------------

  const loadComponents = () =>
    guarded('components', async () => {
      const { components: list } = await api('GET', '/download/components');
      draw('components', list, renderComponents);
    });

  function renderComponents(list) {
    $('components-empty').hidden = list.length > 0;
    $('components-body').replaceChildren(
      ...list.map((c) =>
        h(
          'tr',
          { dataset: { component: c.componentType } },
          h('td', {}, h('button', { type: 'button', class: 'link', text: c.componentType, 'aria-label': `Open ${c.componentType}`, onclick: () => openComponent(c.componentType) })),
          h('td', { text: c.version }),
          h('td', c.pinned ? { class: 'pinned', text: c.pinned.version, title: `by ${c.pinned.by}${c.pinned.reason ? `: ${c.pinned.reason}` : ''}` } : { text: '—' }),
          h('td', {}, h('code', { title: c.sha256, text: typeof c.sha256 === 'string' ? c.sha256.slice(0, 12) : '—' })),
          h('td', { text: formatBytes(c.size) }),
          timeCell(c.downloadedAt),
        ),
      ),
    );
  }

  // ---- One component: kept versions, pin, patches, download slots, refusals ---------------------

  function openComponent(type) {
    state.component = type;
    state.drawn.delete('component');
    $('component-title').textContent = type;
    $('component-action-result').textContent = '';
    $('component-page').hidden = false;
    void guardedOnce(loadComponent);
  }

  function closeComponent() {
    state.component = null;
    $('component-page').hidden = true;
    $('component-versions-body').replaceChildren();
  }

  const loadComponent = () =>
    guarded('components', async () => {
      const type = state.component;
      if (!type) return;
      const [kept, { rejections }, slots] = await Promise.all([
        api('GET', `/download/components/${encodeURIComponent(type)}/versions`),
        api('GET', '/download/components/rejections'),
        api('GET', '/download/components/downloads'),
      ]);
      if (state.component === type) draw('component', { kept, rejections: rejections.filter((r) => r.componentType === type).slice(0, 20), slots }, renderComponent);
    });

  function renderComponent({ kept, rejections, slots }) {
    const type = kept.componentType;
    const pin = kept.pinned;
    const latest = kept.versions[0]?.version;
    $('component-pin').replaceChildren(
      pin
        ? h('span', {}, h('strong', { class: 'pinned', text: `Pinned to ${pin.version}` }), ` by ${pin.by}, ${formatTime(pin.at)}${pin.reason ? `: ${pin.reason}` : ''}. Agents on any other version go to it; new versions are kept but not rolled out.`)
        : h('span', { text: `Not pinned: agents follow the latest version (${latest ?? '—'}).` }),
    );
    $('component-unpin').hidden = !pin;
    $('component-unpin').disabled = state.readOnly;
    $('component-versions-body').replaceChildren(
      ...kept.versions.map((v) =>
        h(
          'tr',
          { dataset: { version: v.version } },
          h('td', {
            text: v.version + (v.version === latest ? ' (latest)' : ''),
            title: `SHA-256 ${v.sha256}; ${v.source === 'incremental' ? `rebuilt from an upstream patch on ${v.patchedFrom ?? '?'}` : 'downloaded whole'}`,
          }),
          h('td', { text: formatBytes(v.size) }),
          timeCell(v.downloadedAt),
          h(
            'td',
            {},
            pin?.version === v.version
              ? h('span', { class: 'pinned', text: 'pinned' })
              : h('button', {
                  type: 'button',
                  class: 'secondary',
                  text: v.version === latest ? 'Pin (hold new releases)' : 'Pin (roll back)',
                  'aria-label': `Pin ${type} to ${v.version}`,
                  disabled: state.readOnly,
                  onclick: () => componentAction('pin', type, v.version),
                }),
          ),
        ),
      ),
    );
    $('component-patches').textContent =
      kept.patches.length === 0 ? 'Patches: none kept.' : `Patches to ${latest}: from ${kept.patches.filter((p) => p.toVersion === latest).map((p) => `${p.fromVersion} (${p.format ?? 'herald-delta-1'} ${formatBytes(p.size)}, ${p.method})`).join(', ') || 'none'}.`;
    $('component-slots').textContent = `Download slots (this instance): ${formatCount(slots.inUse)} of ${formatCount(slots.slots)} in use, peak ${formatCount(slots.peakInUse)}, ${formatCount(slots.served)} served, ${formatCount(slots.refused)} asked to retry later.`;
    $('component-rejections').replaceChildren(
      ...(rejections.length === 0 ? [h('li', { class: 'muted', text: 'None.' })] : rejections.map((r) => h('li', { text: `${formatTime(r.at)} — ${r.version ?? ''} ${r.reason}: ${r.detail}` }))),
    );
  }

  /** Pin the open component to a kept version (with the reason asked for), or unpin it. */
  async function componentAction(kind, type, version) {
    const result = $('component-action-result');
    try {
      if (kind === 'pin') {
        const reason = window.prompt(`Why pin ${type} to ${version}? Agents on any other version will be told to go to it.`, '');
        if (reason === null) return;
        result.textContent = 'Working…';
        const r = await api('POST', `/download/components/${encodeURIComponent(type)}/pin`, { version, ...(reason.trim() ? { reason: reason.trim() } : {}) });
        result.textContent = `Pinned ${type} to ${r.pinned.version}: agents on other versions are told to go to it.`;
      } else {
        result.textContent = 'Working…';
        const r = await api('POST', `/download/components/${encodeURIComponent(type)}/unpin`, {});
        result.textContent = `Unpinned ${type}: agents go to the latest version, ${r.latest}.`;
      }
    } catch (err) {
      result.textContent = err.status === 403 ? 'This needs an admin token.' : `Failed: ${err.message}`;
    }
    state.drawn.delete('component');
    await refresh();
  }

  // ---- Compliance -----------------------------------------------------------------------------

  const loadCompliance = () =>
    guarded('compliance', async () => {
      const [summary, behind] = await Promise.all([api('GET', '/dispatch/compliance'), api('GET', '/dispatch/compliance/agents?limit=10')]);
      draw('compliance', summary.components, renderCompliance);
      draw('compliance-agents', behind, renderComplianceAgents);
    });

  function renderCompliance(components) {
    $('compliance-empty').hidden = components.length > 0;
    $('compliance-body').replaceChildren(
      ...components.map((c) =>
        h(
          'tr',
          { dataset: { component: c.componentType } },
          h('td', { text: c.componentType }),
          h('td', { text: c.latest }),
          h('td', { text: `${formatCount(c.upToDate)} of ${formatCount(c.agents)}` }),
          h('td', {}, h('span', { class: c.behind > 0 ? 'badge badge-outdated' : 'badge badge-ok', text: formatCount(c.behind) })),
          h('td', {
            text:
              c.byVersionsBehind
                .filter((b) => b.versionsBehind > 0)
                .map((b) => `${formatCount(b.agents)} × ${b.versionsBehind} behind`)
                .join(', ') || '—',
          }),
          c.oldestBehindSince ? timeCell(c.oldestBehindSince) : h('td', { text: '—' }),
        ),
      ),
    );
  }

  function renderComplianceAgents({ total, agents }) {
    $('compliance-agents-body').replaceChildren(
      ...agents.map((a) =>
        h(
          'tr',
          {},
          h('td', {}, agentButton(a.agentId), a.online ? null : h('div', { class: 'muted', text: 'offline' })),
          h('td', { text: a.componentType }),
          h('td', {}, h('span', { class: 'nowrap', text: `${a.installed} → ${a.latest}` })),
          h('td', { text: formatCount(a.versionsBehind) }),
          a.behindSince ? timeCell(a.behindSince) : h('td', { text: '—' }),
        ),
      ),
    );
    $('compliance-agents-count').textContent = total === 0 ? 'Every agent has the latest of each component.' : agents.length < total ? `The ${agents.length} longest of ${formatCount(total)} agent components behind.` : `${formatCount(total)} agent components behind.`;
  }

  /** The whole list of agents behind as CSV (the API needs the token, so not a plain link). */
  async function exportCompliance() {
    const button = $('compliance-csv');
    button.disabled = true;
    try {
      const csv = await api('GET', '/dispatch/compliance/agents.csv?limit=100000');
      const link = h('a', { href: URL.createObjectURL(new Blob([csv], { type: 'text/csv' })), download: `herald-agents-behind-${new Date().toISOString().slice(0, 10)}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (err) {
      sectionError('compliance', `Export failed: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async function checkNow() {
    const button = $('check-now');
    const report = $('check-report');
    button.disabled = true;
    button.textContent = 'Checking…';
    report.replaceChildren(h('p', { text: 'Checking the upstream update source…' }));
    try {
      renderCheckReport(await api('POST', '/download/components/check'));
    } catch (err) {
      report.replaceChildren(h('p', { class: 'error', text: err.status === 403 ? 'Checking for updates needs an admin token.' : `Check failed: ${err.message}` }));
    } finally {
      button.textContent = 'Check for updates now';
      showReadOnly();
      if (!state.readOnly) button.disabled = false;
    }
    await refresh();
  }

  function renderCheckReport(r) {
    const lines = [h('p', { class: 'muted', text: `Checked at ${formatTime(r.checkedAt)}` })];
    if (r.ran === false) lines.push(h('p', { text: 'Another instance was checking at the same moment; nothing was done here.' }));
    if (r.error) lines.push(h('p', { class: 'error', text: r.error }));
    // A signed manifest the server refused (rollback, bad signature) explains an empty check.
    if (r.manifest && r.manifest.accepted === false) {
      lines.push(h('p', { class: 'error', text: `Upstream manifest refused: ${r.manifest.reason ?? ''}${r.manifest.detail ? `: ${r.manifest.detail}` : ''}` }));
    }
    for (const d of r.downloaded || []) {
      const how = d.source === 'incremental' ? `, rebuilt from an incremental patch${d.patchedFrom ? ` on ${d.patchedFrom}` : ''}` : '';
      lines.push(h('p', { class: 'ok', text: `Downloaded and verified: ${d.componentType} ${d.version} (${formatBytes(d.size)}${how})` }));
    }
    for (const d of r.rejected || []) lines.push(h('p', { class: 'error', text: `Refused: ${d.componentType} ${d.version}, ${d.reason}: ${d.detail}` }));
    if (r.upToDate && r.upToDate.length) lines.push(h('p', { text: `Already up to date: ${r.upToDate.join(', ')}` }));
    if (r.ran !== false && !r.error && !(r.downloaded || []).length && !(r.rejected || []).length && !(r.upToDate || []).length) {
      lines.push(h('p', { text: 'The upstream lists no component.' }));
    }
    $('check-report').replaceChildren(...lines);
  }

  // ---- Agents ---------------------------------------------------------------------------------

  /**
   * "site:paris os:linux" (spaces or commas between) as labels; "-ring" asks to remove ring.
   * Unfinished words ("site", "site:") are left out, so typing never shows an error.
   */
  function parseLabels(text) {
    const set = {};
    const remove = [];
    for (const word of text.split(/[\s,]+/).filter(Boolean)) {
      if (word.startsWith('-') && word.length > 1) remove.push(word.slice(1));
      const at = word.indexOf(':');
      if (at > 0 && at < word.length - 1) set[word.slice(0, at)] = word.slice(at + 1);
    }
    return { set, remove };
  }

  const labelText = (labels) => Object.entries(labels || {}).map(([k, v]) => `${k}:${v}`).join(' ');

  /** What the agent filters select, as agent-presence's list (and every bulk action) takes it. */
  function agentFilter() {
    const filter = {};
    const q = $('filter-q').value.trim();
    if (q) filter.q = q;
    if ($('filter-status').value) filter.status = $('filter-status').value;
    if ($('filter-outdated').value) filter.outdated = $('filter-outdated').value === 'true';
    const labels = parseLabels($('filter-labels').value).set;
    if (Object.keys(labels).length > 0) filter.labels = labels;
    return filter;
  }

  const loadAgents = () =>
    guarded('agents', async () => {
      const query = new URLSearchParams({ limit: String(AGENTS_PAGE), offset: String(state.agentsOffset) });
      for (const [key, value] of Object.entries(agentFilter())) {
        if (key === 'labels') for (const pair of labelText(value).split(' ')) query.append('label', pair);
        else query.set(key, String(value));
      }
      const [summary, list] = await Promise.all([api('GET', '/presence/agents/summary'), api('GET', `/presence/agents?${query}`)]);
      draw('agent-summary', summary, renderAgentSummary);
      draw('agents', list, renderAgents);
    });

  function stat(key, label, value) {
    return h('div', { class: `stat stat-${key}`, dataset: { stat: key } }, h('dt', { text: label }), h('dd', { text: formatCount(value) }));
  }

  function renderAgentSummary(s) {
    $('agent-summary').replaceChildren(
      stat('total', 'Agents', s.total),
      stat('online', 'Online', s.online),
      stat('offline', 'Offline', s.offline),
      stat('independent', 'Independent', s.independent),
      stat('up-to-date', 'Up to date', s.total - s.outdated),
      stat('outdated', 'Outdated', s.outdated),
    );
  }

  function agentButton(agentId) {
    return h('button', { type: 'button', class: 'link', title: 'Show this agent’s timeline', text: agentId, onclick: () => openTimeline(agentId) });
  }

  function renderAgents({ total, agents }) {
    $('agents-body').replaceChildren(
      ...agents.map((a) =>
        h(
          'tr',
          {},
          h(
            'td',
            {},
            agentButton(a.agentId),
            a.hostname ? h('div', { class: 'muted', text: a.hostname }) : null,
            Object.keys(a.labels || {}).length > 0
              ? h(
                  'div',
                  { class: 'labels' },
                  ...Object.entries(a.labels).map(([k, v]) =>
                    h('span', { class: a.adminLabels?.[k] === v ? 'label label-admin' : 'label', title: a.adminLabels?.[k] === v ? 'set by an admin' : 'reported by the agent', text: `${k}:${v}` }),
                  ),
                )
              : null,
          ),
          h('td', {}, h('span', { class: `badge badge-${a.status}`, text: a.status }), a.independentMode && !a.privileges?.independentMode ? h('div', { class: 'muted', text: 'no privilege' }) : null),
          h('td', { text: (a.components || []).map((c) => (c.outdated && c.latest ? `${c.type} ${c.version} (latest ${c.latest})` : `${c.type} ${c.version}`)).join(', ') || '—' }),
          h('td', {}, h('span', { class: a.outdated ? 'badge badge-outdated' : 'badge badge-ok', text: a.outdated ? 'outdated' : 'up to date' })),
          timeCell(a.lastSeenAt),
        ),
      ),
    );
    state.agentsTotal = total;
    const from = state.agentsOffset + 1;
    const to = state.agentsOffset + agents.length;
    $('agents-count').textContent = agents.length === 0 ? (total > 0 ? `No agent on this page of ${formatCount(total)}.` : 'No agent matches.') : agents.length < total ? `Showing ${formatCount(from)}–${formatCount(to)} of ${formatCount(total)} agents.` : `${formatCount(total)} agents.`;
    $('agents-prev').disabled = state.agentsOffset === 0;
    $('agents-next').disabled = to >= total;
    for (const id of ['bulk-update-now', 'bulk-grant', 'bulk-revoke', 'bulk-label']) {
      $(id).disabled = state.readOnly || total === 0;
      $(id).title = state.readOnly ? 'Needs an admin token' : '';
    }
  }

  /** The filters changed: the first page of what they select now, and no answer about another selection. */
  function filtersChanged() {
    $('agents-bulk-result').textContent = '';
    showAgentsFrom(0);
  }

  /** Shows the agents from `offset` on. */
  function showAgentsFrom(offset) {
    state.agentsOffset = Math.max(0, offset);
    state.drawn.delete('agents');
    void guardedOnce(loadAgents);
  }

  /** Update now, grant or revoke, for every agent the filters select, after the admin confirms with the count. */
  async function bulkAction(kind) {
    const filter = agentFilter();
    const n = formatCount(state.agentsTotal);
    let change;
    if (kind === 'label') {
      const answer = window.prompt(`Labels to set on all ${n} matching agents (key:value; -key removes an admin's label):`, '');
      if (answer === null) return;
      change = parseLabels(answer);
      if (Object.keys(change.set).length === 0 && change.remove.length === 0) return;
    } else {
      const what = { 'update-now': `Update now all ${n} matching agents (those behind on a component)?`, grant: `Grant the Independent privilege to all ${n} matching agents?`, revoke: `Revoke the Independent privilege from all ${n} matching agents?` }[kind];
      if (!window.confirm(what)) return;
    }
    const result = $('agents-bulk-result');
    result.textContent = 'Working…';
    try {
      if (kind === 'label') {
        const r = await api('POST', '/presence/agents/labels', { filter, ...change });
        result.textContent = `Labelled: ${formatCount(r.changed)} changed of ${formatCount(r.matched)} matching.`;
      } else if (kind === 'update-now') {
        // dispatch acts on the outdated ones of the agents matching the same text and status.
        const { outdated: _outdated, ...rest } = filter;
        const r = await api('POST', '/dispatch/agents/update-now', rest);
        result.textContent = `Update now: ${formatCount(r.matched)} matched · ${formatCount(r.opened)} notified · ${formatCount(r.raised)} raised · ${formatCount(r.alreadyOnTheirWay)} already on their way · ${formatCount(r.upToDate)} up to date.`;
      } else {
        const r = await api('POST', '/presence/agents/privileges', { filter, independentMode: kind === 'grant' });
        result.textContent = `${kind === 'grant' ? 'Granted' : 'Revoked'}: ${formatCount(r.changed)} changed of ${formatCount(r.matched)} matching.`;
      }
    } catch (err) {
      result.textContent = err.status === 403 ? 'Bulk actions need an admin token.' : `Failed: ${err.message}`;
    }
    state.drawn.delete('agents');
    await refresh();
  }

  /** Update now, or grant or revoke the privilege, of the agent whose timeline is shown. */
  async function agentAction(kind) {
    const agentId = state.timelineAgent;
    if (!agentId) return;
    const result = $('agent-action-result');
    result.textContent = 'Working…';
    try {
      if (kind === 'labels') {
        const agent = await api('GET', `/presence/agents/${encodeURIComponent(agentId)}`);
        const answer = window.prompt(`Labels of ${agentId} set by admins (key:value, spaces between; they win over the agent's own: ${labelText(agent.labels) || 'none'}):`, labelText(agent.adminLabels));
        if (answer === null) {
          result.textContent = '';
          return;
        }
        const { set } = parseLabels(answer);
        const remove = Object.keys(agent.adminLabels || {}).filter((k) => !(k in set));
        const r = Object.keys(set).length > 0 || remove.length > 0 ? await api('POST', `/presence/agents/${encodeURIComponent(agentId)}/labels`, { set, remove }) : agent;
        result.textContent = `${agentId}: labels ${labelText(r.labels) || 'none'}.`;
        state.drawn.delete('agents');
      } else if (kind === 'update-now') {
        const r = await api('POST', `/dispatch/agents/${encodeURIComponent(agentId)}/update-now`, {});
        result.textContent = r.opened ? `${agentId}: update sent.` : r.raised ? `${agentId}: its open update now brings the newest versions.` : r.alreadyOnTheirWay ? `${agentId}: the newest versions are already on their way.` : `${agentId} is up to date.`;
      } else {
        const grant = $('agent-privilege').dataset.grant === 'true';
        await api('PUT', `/presence/agents/${encodeURIComponent(agentId)}/privileges`, { independentMode: grant });
        result.textContent = `${agentId}: Independent privilege ${grant ? 'granted' : 'revoked'}.`;
      }
    } catch (err) {
      result.textContent = err.status === 403 ? 'This needs an admin token.' : `Failed: ${err.message}`;
    }
    state.drawn.delete('timeline');
    await guardedOnce(loadTimeline);
  }

  // ---- Admission of agents with their own identities ------------------------------------------

  const loadAdmission = () =>
    guarded('agents', async () => {
      const pending = await api('GET', '/presence/identities?status=pending&limit=20');
      draw('admission', pending, renderAdmission);
    });

  function renderAdmission({ total, identities }) {
    $('admission').hidden = total === 0;
    const decide = (agentId, decision, button) => async () => {
      button.disabled = true;
      try {
        await api('POST', `/presence/identities/${encodeURIComponent(agentId)}/${decision}`, {});
      } catch (err) {
        showNotice(err.status === 403 ? 'Accepting or rejecting agents needs an admin token.' : `Could not ${decision} ${agentId}: ${err.message}`);
      }
      state.drawn.delete('admission');
      await refresh();
    };
    $('admission-body').replaceChildren(
      ...identities.map((i) => {
        const accept = h('button', { type: 'button', text: 'Accept', disabled: state.readOnly, title: state.readOnly ? 'Needs an admin token' : '' });
        const reject = h('button', { type: 'button', class: 'secondary', text: 'Reject', disabled: state.readOnly, title: state.readOnly ? 'Needs an admin token' : '' });
        accept.onclick = decide(i.agentId, 'accept', accept);
        reject.onclick = decide(i.agentId, 'reject', reject);
        return h('tr', { dataset: { agent: i.agentId } }, h('td', { text: i.agentId }), timeCell(i.enrolledAt), h('td', { text: i.enrolledWith }), h('td', {}, accept, ' ', reject));
      }),
    );
    $('admission-count').textContent = identities.length < total ? `Showing ${identities.length} of ${formatCount(total)} waiting agents.` : '';
  }

  // ---- Rollouts -------------------------------------------------------------------------------

  const loadRollouts = () =>
    guarded('rollouts', async () => {
      const { rollouts } = await api('GET', '/dispatch/rollouts?limit=20');
      draw('rollouts', rollouts, renderRollouts);
    });

  /** Share of the targeted agents that are updated: 100 only when every one of them is. */
  function percentUpdated(c) {
    return c.targeted > 0 ? Math.floor((c.updated * 100) / c.targeted) : null;
  }

  function rolloutStatus(r) {
    const c = r.counts;
    const control = r.control?.state ?? 'running';
    if (control === 'aborted') return { key: 'aborted', text: 'aborted' };
    if (control === 'paused') return { key: 'paused', text: 'paused' };
    if (r.control?.phase === 'canary') return { key: 'canary', text: 'canary' };
    if (r.control?.phase === 'awaiting-approval') return { key: 'awaiting', text: 'awaiting approval' };
    if (c.targeted === 0) return { key: 'idle', text: 'nobody targeted' };
    if (!r.complete) return { key: 'running', text: 'in progress' };
    return c.updated === c.targeted ? { key: 'done', text: 'complete' } : { key: 'partial', text: 'complete, not all updated' };
  }

  function renderRollouts(rollouts) {
    $('rollouts-empty').hidden = rollouts.length > 0;
    $('rollout-list').replaceChildren(...rollouts.map((r) => h('li', {}, rolloutCard(r))));
  }

  function rolloutCard(r) {
    const c = r.counts;
    const kind = r.cause?.kind === 'pin' ? ' rollback' : r.cause?.kind === 'unpin' ? ' unpin' : '';
    const label = `${r.component.type} ${r.component.version}${kind}`;
    const pct = percentUpdated(c);
    const status = rolloutStatus(r);
    const share = (n) => (c.targeted > 0 ? `${(n * 100) / c.targeted}%` : '0%');

    const bar =
      pct === null
        ? h('p', { class: 'muted', text: 'No agent was targeted by this rollout.' })
        : h(
            'div',
            {
              class: 'progress',
              role: 'progressbar',
              'aria-label': `${label} updated`,
              'aria-valuemin': 0,
              'aria-valuemax': 100,
              'aria-valuenow': pct,
              'aria-valuetext': `${pct}% updated (${c.updated} of ${c.targeted})`,
            },
            h('span', { class: 'seg seg-updated', width: share(c.updated), title: `updated: ${c.updated}` }),
            h('span', { class: 'seg seg-failed', width: share(c.failed), title: `failed: ${c.failed}` }),
            h('span', { class: 'seg seg-gave-up', width: share(c.gaveUp), title: `given up: ${c.gaveUp}` }),
          );

    const stages = [
      ['targeted', 'Targeted'],
      ['notified', 'Notified'],
      ['acknowledged', 'Acknowledged'],
      ['updated', 'Updated'],
    ];
    const funnel = h(
      'ol',
      { class: 'funnel', 'aria-label': `${label} stages` },
      stages.map(([key, name]) =>
        h(
          'li',
          { dataset: { count: key } },
          h('span', { class: 'stage-name', text: name }),
          h('strong', { class: 'stage-value', text: formatCount(c[key]) }),
          h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { class: `meter-fill meter-${key}`, width: share(c[key]) })),
        ),
      ),
    );

    const outcome = (key, name, value, tone) =>
      h(
        'div',
        { class: `outcome${value > 0 && tone ? ` outcome-${tone}` : ''}`, dataset: { count: key } },
        h('dt', { text: name }),
        h('dd', { text: typeof value === 'number' ? formatCount(value) : value }),
      );
    const outcomes = h(
      'dl',
      { class: 'outcomes', 'aria-label': `${label} outcomes` },
      outcome('failed', 'Failed', c.failed, 'bad'),
      outcome('gave-up', 'Given up', c.gaveUp, 'bad'),
      outcome('caught-up', 'Caught up before their turn', c.alreadyUpToDate ?? 0),
      outcome('superseded', 'Superseded (reconnect or pin)', c.superseded ?? 0),
      outcome('aborted', 'Aborted', c.aborted ?? 0, 'warn'),
      outcome('retried', 'Failed once, retried', c.retried ?? 0, 'warn'),
      outcome('in-progress', 'In progress', c.inProgress),
      outcome('up-to-date', 'Already up to date', c.upToDate),
      outcome('skipped-offline', 'Skipped: offline', c.skipped?.offline ?? 0, 'warn'),
      outcome('skipped-independent', 'Skipped: independent', c.skipped?.independent ?? 0, 'warn'),
      outcome('skipped-no-privilege', 'Skipped: no privilege', c.skipped?.['no-privilege'] ?? 0, 'warn'),
      outcome('updated-after-skip', 'Skipped, updated later', c.updatedAfterSkip ?? 0),
      outcome('joined-on-reconnect', 'Joined on reconnect (updated / all)', `${formatCount(c.onReconnect?.updated ?? 0)} / ${formatCount(c.onReconnect?.targeted ?? 0)}`),
      outcome('skipped-on-reconnect', 'Left alone on reconnect (Independent)', c.onReconnect?.skipped ?? 0),
      outcome('scanned', 'Scans done / asked', `${formatCount(c.scanned)} / ${formatCount(c.scanRequested)}`),
    );

    const notes = [];
    const who = r.cause?.by ?? 'an admin';
    if (r.cause?.kind === 'pin') notes.push(`Rollback: ${who} pinned ${r.component.type} to ${r.component.version}${r.cause.reason ? ` (${r.cause.reason})` : ''}; agents on any other version go to it.`);
    if (r.cause?.kind === 'unpin') notes.push(`${who} unpinned ${r.component.type}: agents return to the latest version.`);
    if (r.notifyOnDownload === false && !r.cause) notes.push('R1 was off when this version arrived: agents are updated when they reconnect (R2).');
    if (r.includeIndependentAndOffline) notes.push('R1a was on: Independent and offline agents were targeted too.');
    if (r.control?.state === 'paused') notes.push(`Paused: no attempt goes out. ${formatCount(r.control.heldAttempts)} held until it is resumed.`);
    const k = r.control?.canary;
    if (k) {
      const where = {
        canary: `Canary: ${formatCount(k.succeeded)} of ${formatCount(k.agents)} updated, ${k.successPercent}% needed; the rest waits${k.approval === 'manual' ? ' for an admin to promote it' : ''}.`,
        'awaiting-approval': k.agents === 0 ? 'Canary: no target matched the selector; the rollout waits for an admin to promote it.' : `Canary passed (${formatCount(k.succeeded)} of ${formatCount(k.agents)} updated): waiting for an admin to promote it.`,
        all: `Canary: ${formatCount(k.succeeded)} of ${formatCount(k.agents)} updated; promoted to everyone.`,
      }[r.control.phase];
      if (where) notes.push(where);
    }

    return h(
      'article',
      { class: `rollout rollout-${status.key}`, 'aria-label': `Rollout ${label}`, dataset: { rolloutId: r.rolloutId } },
      h(
        'header',
        { class: 'rollout-head' },
        h('h3', { text: label }),
        h('span', { class: `badge badge-${status.key}`, text: status.text }),
        h('span', { class: 'muted' }, 'started ', h('time', { datetime: r.startedAt, title: r.startedAt, text: formatTime(r.startedAt) })),
        h('span', { class: 'percent', 'aria-hidden': 'true', text: pct === null ? '—' : `${pct}%` }),
      ),
      bar,
      funnel,
      outcomes,
      notes.map((text) => h('p', { class: 'muted', text })),
      h(
        'div',
        { class: 'row rollout-actions' },
        h('button', { type: 'button', class: 'secondary', text: 'Show agents', 'aria-label': `Show agents of ${label}`, onclick: () => openRolloutAgents(r.rolloutId, label) }),
        rolloutControls(r, label),
      ),
      h('p', { class: 'rollout-result', role: 'status', 'aria-live': 'polite', text: state.rolloutResults.get(r.rolloutId) ?? '' }),
    );
  }

  /** Pause or resume, retry failed, abort: what the rollout's state allows, for an admin token. */
  function rolloutControls(r, label) {
    const control = r.control?.state ?? 'running';
    if (control === 'aborted') return [];
    const c = r.counts;
    const button = (text, action, options = {}) => {
      const b = h('button', {
        type: 'button',
        class: options.danger ? 'danger' : 'secondary',
        text,
        'aria-label': `${text} ${label}`,
        disabled: state.readOnly || options.disabled === true,
        title: state.readOnly ? 'Needs an admin token' : options.title ?? '',
      });
      b.onclick = () => steerRollout(r.rolloutId, label, action, b, options.confirm);
      return b;
    };
    const failed = (c.failed ?? 0) + (c.gaveUp ?? 0);
    const phase = r.control?.phase ?? 'all';
    return [
      phase === 'all' ? null : button('Promote', 'promote', { confirm: `Notify the rest of ${label}'s plan now${phase === 'canary' ? ', before its canary passed' : ''}?` }),
      control === 'paused' ? button('Resume', 'resume') : button('Pause', 'pause'),
      button(`Retry failed (${formatCount(failed)})`, 'retry-failed', { disabled: failed === 0, title: failed === 0 ? 'No failed or given-up agent' : '' }),
      button('Abort', 'abort', { danger: true, confirm: `Abort the rollout of ${label}? Its open notifications close and the rest of its plan is not notified. This cannot be undone.` }),
    ];
  }

  const STEER_DONE = {
    pause: (res) => (res.changed ? `Paused: no attempt of it goes out until it is resumed.` : 'It was already paused.'),
    resume: (res) => (res.changed ? `Resumed: ${formatCount(res.agents)} held ${res.agents === 1 ? 'attempt' : 'attempts'} sent.` : 'It was already running.'),
    abort: (res) => (res.changed ? `Aborted: ${formatCount(res.agents)} open ${res.agents === 1 ? 'notification' : 'notifications'} closed.` : 'It was already aborted.'),
    'retry-failed': (res) => (res.changed ? `Retrying ${formatCount(res.agents)} ${res.agents === 1 ? 'agent' : 'agents'}.` : 'No failed agent to retry.'),
    promote: (res) => (res.changed ? `Promoted: ${formatCount(res.agents)} more ${res.agents === 1 ? 'agent' : 'agents'} notified.` : 'It was already promoted.'),
  };

  async function steerRollout(rolloutId, label, action, button, question) {
    if (question && !window.confirm(question)) return;
    button.disabled = true;
    let message;
    try {
      message = STEER_DONE[action](await api('POST', `/dispatch/rollouts/${encodeURIComponent(rolloutId)}/${action}`, {}));
    } catch (err) {
      message = err.status === 403 ? 'Steering a rollout needs an admin token.' : `Could not ${action.replace('-', ' ')} ${label}: ${err.message}`;
    }
    state.rolloutResults.set(rolloutId, message);
    state.drawn.delete('rollouts');
    await guardedOnce(loadRollouts);
  }

  function openRolloutAgents(id, label) {
    state.rollout = { id, label };
    state.drawn.delete('rollout-agents');
    $('rollout-agents-title').textContent = `Agents of ${label}`;
    $('rollout-agents').hidden = false;
    void guardedOnce(loadRolloutAgents);
  }

  function closeRolloutAgents() {
    state.rollout = null;
    $('rollout-agents').hidden = true;
    $('rollout-agents-body').replaceChildren();
    $('rollout-chart').hidden = true;
    $('rollout-chart-svg').replaceChildren();
    state.drawn.delete('rollout-chart');
  }

  const loadRolloutAgents = () =>
    guarded('rollouts', async () => {
      if (!state.rollout) return;
      const { id } = state.rollout;
      const path = `/dispatch/rollouts/${encodeURIComponent(id)}`;
      const [{ agents }, progress] = await Promise.all([api('GET', `${path}/agents?limit=1000`), api('GET', `${path}/progress?points=${CHART_POINTS}`)]);
      if (state.rollout?.id !== id) return;
      draw('rollout-agents', agents, renderRolloutAgents);
      draw('rollout-chart', progress, renderRolloutChart);
    });

  // ---- Progress over time: one line per series, cumulative, on a shared scale of the targeted agents.
  const CHART_POINTS = 60;
  const CHART = { width: 1000, height: 200, left: 52, right: 10, top: 12, bottom: 26 };
  const CHART_SERIES = [
    { key: 'sent', label: 'sent' },
    { key: 'acknowledged', label: 'acknowledged' },
    { key: 'updated', label: 'updated' },
    { key: 'failed', label: 'failed or given up' },
  ];
  const SVG = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function renderRolloutChart(progress) {
    const { points, targeted } = progress;
    const svg = $('rollout-chart-svg');
    const max = Math.max(targeted, 1);
    const x0 = CHART.left;
    const x1 = CHART.width - CHART.right;
    const y0 = CHART.height - CHART.bottom;
    const y1 = CHART.top;
    const x = (i) => x0 + ((x1 - x0) * i) / Math.max(points.length - 1, 1);
    const y = (n) => y0 - ((y0 - y1) * n) / max;
    const last = points.at(-1) ?? { sent: 0, acknowledged: 0, updated: 0, failed: 0 };
    svg.replaceChildren(
      s('line', { class: 'axis', x1: x0, y1: y0, x2: x1, y2: y0 }),
      s('line', { class: 'axis', x1: x0, y1: y0, x2: x0, y2: y1 }),
      s('line', { class: 'grid', x1: x0, y1: y1, x2: x1, y2: y1 }),
      s('text', { class: 'tick', x: x0 - 4, y: y1 + 4, 'text-anchor': 'end' }, formatCount(targeted)),
      s('text', { class: 'tick', x: x0 - 4, y: y0, 'text-anchor': 'end' }, '0'),
      s('text', { class: 'tick', x: x0, y: CHART.height - 6, 'text-anchor': 'start' }, formatTime(progress.from)),
      s('text', { class: 'tick', x: x1, y: CHART.height - 6, 'text-anchor': 'end' }, formatTime(progress.to)),
      ...CHART_SERIES.map(({ key }) =>
        s('polyline', { class: `series series-${key}`, 'data-series': key, 'data-last': last[key], points: points.map((p, i) => `${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ') }),
      ),
    );
    svg.setAttribute(
      'aria-label',
      `Progress from ${formatTime(progress.from)} to ${formatTime(progress.to)} of ${formatCount(targeted)} targeted agents: ` +
        CHART_SERIES.map(({ key, label }) => `${formatCount(last[key])} ${label}`).join(', '),
    );
    $('rollout-chart-legend').replaceChildren(
      ...CHART_SERIES.map(({ key, label }) => h('span', { class: 'legend-item' }, h('span', { class: `swatch series-${key}`, 'aria-hidden': 'true' }), `${label} ${formatCount(last[key])}`)),
    );
    $('rollout-chart').hidden = false;
  }

  function renderRolloutAgents(agents) {
    const yes = (v) => (v ? 'yes' : '—');
    const OUTCOMES = { updated: 'updated', failed: 'failed', 'gave-up': 'given up', 'already-up-to-date': 'caught up', superseded: 'superseded', aborted: 'aborted' };
    const outcomeOf = (a) =>
      (a.outcome ? OUTCOMES[a.outcome] ?? a.outcome : a.targeted ? 'in progress' : '—') + (a.updateRetries ? ` (${a.updateRetries} ${a.updateRetries === 1 ? 'retry' : 'retries'})` : '');
    $('rollout-agents-body').replaceChildren(
      ...agents.map((a) =>
        h(
          'tr',
          {},
          h('td', {}, agentButton(a.agentId)),
          h('td', { text: a.targeted ? 'targeted' : `skipped: ${a.skippedReason}` }),
          h('td', { text: a.targeted ? `${a.attempts}${a.returnedAttempts ? ` (${a.returnedAttempts} not delivered)` : ''}${a.timedOutAttempts ? ` (${a.timedOutAttempts} timed out)` : ''}` : '—' }),
          h('td', { text: yes(a.notified) }),
          h('td', { text: yes(a.acknowledged) }),
          h('td', { text: `${outcomeOf(a)}${a.scanned ? ', scanned' : a.scanRequested ? ', scan asked' : ''}` }),
          timeCell(a.lastChangeAt),
        ),
      ),
    );
  }

  // ---- Agent timeline -------------------------------------------------------------------------

  function openTimeline(agentId) {
    $('timeline-agent').value = agentId;
    showTimelineOf(agentId);
    $('timeline').scrollIntoView({ block: 'start' });
  }

  function showTimelineOf(agentId) {
    state.timelineAgent = agentId;
    state.timelineUnknown = null;
    state.drawn.delete('timeline');
    $('timeline-table').hidden = true;
    $('agent-actions').hidden = true;
    $('agent-action-result').textContent = '';
    $('timeline-agent-state').textContent = `Loading the timeline of ${agentId}…`;
    void guardedOnce(loadTimeline);
  }

  /** A one-off load outside the polling round; its failure is already shown in its section. */
  async function guardedOnce(load) {
    try {
      await load();
    } catch {
      // shown by guarded()
    }
  }

  const loadTimeline = () =>
    guarded('timeline', async () => {
      const agentId = state.timelineAgent;
      if (!agentId) return;
      // An agent the service does not know (or an id it refuses) is answered once, not asked for
      // again every poll: the answer stays on screen until another agent is chosen.
      if (state.timelineUnknown?.agentId === agentId) throw state.timelineUnknown.error;
      let timeline;
      try {
        timeline = await api('GET', `/dispatch/agents/${encodeURIComponent(agentId)}/timeline`);
      } catch (err) {
        if (state.timelineAgent === agentId && (err.status === 404 || err.status === 400)) {
          $('timeline-agent-state').textContent = '';
          $('timeline-table').hidden = true;
          state.drawn.delete('timeline');
          state.timelineUnknown = { agentId, error: err };
        }
        throw err;
      }
      if (state.timelineAgent === agentId) draw('timeline', timeline, renderTimeline);
    });

  function renderTimeline(t) {
    const a = t.agent;
    const facts = a
      ? [
          a.online ? 'online' : 'offline',
          a.independentMode ? `Independent mode (${a.independentPrivilege ? 'privilege granted' : 'no privilege'})` : null,
          components(a.components) || 'no components reported',
        ].filter(Boolean)
      : ['not known to notification-dispatch any more'];
    $('timeline-agent-state').textContent = `${t.agentId}: ${facts.join(' · ')} · ${t.entries.length} entries`;
    $('agent-actions').hidden = !a;
    if (a) {
      const privilege = $('agent-privilege');
      privilege.dataset.grant = String(!a.independentPrivilege);
      privilege.textContent = a.independentPrivilege ? 'Revoke Independent privilege' : 'Grant Independent privilege';
      for (const button of [$('agent-update-now'), privilege, $('agent-labels')]) {
        button.disabled = state.readOnly;
        button.title = state.readOnly ? 'Needs an admin token' : '';
      }
    }
    $('timeline-body').replaceChildren(
      ...t.entries.map((e) => h('tr', { dataset: { type: e.type } }, timeCell(e.at), h('td', {}, h('code', { text: e.type })), h('td', { text: entryDetails(e) }))),
    );
    $('timeline-table').hidden = false;
  }

  const shortId = (id) => (typeof id === 'string' ? id.slice(0, 8) : '');

  /** One readable line per timeline entry; unknown entry types show their fields as they are. */
  function entryDetails(e) {
    const targets = (list) => (Array.isArray(list) ? list.map((c) => `${c.type} ${c.version}`).join(', ') : '');
    switch (e.type) {
      case 'UpdateTargeted':
        return [
          `trigger: ${e.trigger}`,
          e.rolloutId ? `rollout ${shortId(e.rolloutId)}` : null,
          e.rolloutIds && e.rolloutIds.length ? `${e.rolloutIds.length === 1 ? 'rollout' : 'rollouts'} ${e.rolloutIds.map(shortId).join(', ')}` : null,
          targets(e.components),
          e.policy ? `up to ${e.policy.maxAttempts} attempts, ${Math.round(e.policy.resendIntervalMs / 1000)} s apart${e.policy.scanAfterUpdate ? ', then Scan Now' : ''}` : null,
        ]
          .filter(Boolean)
          .join(' · ');
      case 'NotificationTargetRaised':
        return `raised to ${targets(e.components)}`;
      case 'TargetSkipped':
        return [
          `skipped: ${e.reason}`,
          `trigger: ${e.trigger}`,
          e.rolloutId ? `rollout ${shortId(e.rolloutId)}` : null,
          e.rolloutIds && e.rolloutIds.length ? `${e.rolloutIds.length === 1 ? 'rollout' : 'rollouts'} ${e.rolloutIds.map(shortId).join(', ')}` : null,
          e.components && e.components.length ? `behind on ${targets(e.components)}` : null,
        ]
          .filter(Boolean)
          .join(' · ');
      case 'AttemptSent':
        return `attempt ${e.attempt} · ${targets(e.components)} · acknowledge by ${formatTime(e.ackDeadlineAt)}`;
      case 'AttemptFailed':
        return `attempt ${e.attempt} failed: ${e.reason}`;
      case 'ResendScheduled':
        return `attempt ${e.nextAttempt} due ${formatTime(e.dueAt)}`;
      case 'NotificationAcknowledged':
        return `attempt ${e.attempt} acknowledged`;
      case 'UpdateCompleted':
        return [
          (e.components || []).map((c) => `${c.type} ${c.fromVersion ?? '—'} → ${c.toVersion} (${c.mode}, ${formatBytes(c.bytes)})`).join(', '),
          e.targetReached === false ? 'a newer version follows' : null,
        ]
          .filter(Boolean)
          .join(' · ');
      case 'UpdateFailed':
        return `failed: ${e.error}${e.retries ? ` · gave up after ${e.retries} ${e.retries === 1 ? 'retry' : 'retries'}` : ''}`;
      case 'UpdateRetryScheduled':
        return `failed: ${e.error} · retry ${e.retry} of ${e.retries} (attempt ${e.nextAttempt}) due ${formatTime(e.dueAt)}`;
      case 'RolloutJoined':
        return `rollout ${shortId(e.rolloutId)} follows this notification`;
      case 'UpdateNotNeeded':
        return `rollout ${shortId(e.rolloutId)}: already up to date`;
      case 'NotificationGaveUp':
        return `gave up after ${e.attempts} attempts`;
      case 'NotificationResolved':
        return `closed: ${e.reason}${e.rolloutId ? ` (rollout ${shortId(e.rolloutId)})` : ''}${e.by ? ` by ${e.by}` : ''}`;
      case 'ScanRequested':
        return `scan ${shortId(e.scanId)} requested`;
      case 'ScanCommandSent':
        return `scan ${shortId(e.scanId)} sent`;
      case 'ScanCommandFailed':
        return `scan ${shortId(e.scanId)} not delivered: ${e.reason}`;
      case 'ScanCompleted':
        return `scan ${shortId(e.scanId)}: ${e.outcome}${e.threatsFound ? `, ${e.threatsFound} threats found` : ''}`;
      default: {
        const { position: _p, at: _a, type: _t, correlationId: _c, ...rest } = e;
        return Object.entries(rest)
          .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
          .join(' · ');
      }
    }
  }

  // ---- Settings -------------------------------------------------------------------------------

  const settingInput = (field) => $(`setting-${field}`);

  /** Until the settings are read the form is disabled and says so: unread, every rule would look off. */
  function settingsLoading(loading) {
    $('settings-fields').disabled = loading;
    $('settings-loading').hidden = !loading;
    if (loading) $('settings-form').setAttribute('aria-busy', 'true');
    else $('settings-form').removeAttribute('aria-busy');
  }

  const loadSettings = () =>
    guarded('settings', async () => {
      const [settings, history] = await Promise.all([api('GET', SETTINGS_PATH), api('GET', `${SETTINGS_PATH}/history`)]);
      state.settings = settings;
      // The admin's unsaved edits win over what polling brings in.
      if (!state.settingsDirty) draw('settings', settings, fillSettings);
      draw('settings-history', history.changes, renderHistory);
    });

  function fillSettings(settings) {
    state.formBase = settings;
    settingsLoading(false);
    for (const [field, { kind }] of Object.entries(SETTING_FIELDS)) {
      const input = settingInput(field);
      if (!(field in settings)) continue;
      if (kind === 'boolean') input.checked = Boolean(settings[field]);
      else if (kind === 'labels') input.value = labelText(settings[field]);
      else input.value = String(settings[field]);
    }
  }

  function formValues() {
    const values = {};
    for (const [field, { kind }] of Object.entries(SETTING_FIELDS)) {
      const input = settingInput(field);
      if (kind === 'boolean') values[field] = input.checked;
      else if (kind === 'labels') values[field] = parseLabels(input.value).set;
      else if (kind === 'choice') values[field] = input.value;
      else {
        const raw = input.value.trim();
        // Anything not a plain number goes as typed, so the service names the problem.
        values[field] = raw === '' ? null : /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
      }
    }
    return values;
  }

  function clearSettingErrors() {
    for (const field of Object.keys(SETTING_FIELDS)) {
      const input = settingInput(field);
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
      document.getElementById(`setting-${field}-error`)?.remove();
    }
    $('settings-errors').replaceChildren();
    $('settings-errors').hidden = true;
  }

  /** The 400 answer's `errors[]` (zod issues: path, message) next to their fields and in a list. */
  function showSettingErrors(err) {
    const issues = Array.isArray(err.body?.errors) ? err.body.errors : [];
    const items = [];
    for (const issue of issues) {
      const field = Array.isArray(issue.path) ? issue.path[0] : undefined;
      const known = field !== undefined && field in SETTING_FIELDS;
      const name = known ? SETTING_FIELDS[field].label : Array.isArray(issue.path) && issue.path.length ? issue.path.join('.') : 'settings';
      items.push(h('li', { text: `${name}: ${issue.message}` }));
      if (known && !document.getElementById(`setting-${field}-error`)) {
        const input = settingInput(field);
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', `setting-${field}-error`);
        input.closest('.field, .check').append(h('p', { id: `setting-${field}-error`, class: 'field-error', text: issue.message }));
      }
    }
    if (items.length === 0) items.push(h('li', { text: err.message }));
    $('settings-errors').replaceChildren(...items);
    $('settings-errors').hidden = false;
  }

  async function saveSettings(event) {
    event.preventDefault();
    clearSettingErrors();
    const result = $('settings-result');
    const base = state.formBase;
    if (!base) {
      result.textContent = 'The settings have not been read yet.';
      return;
    }
    // Only what the admin changed in the form, so a change another admin made meanwhile to
    // another field is not undone.
    const values = formValues();
    const patch = Object.fromEntries(Object.entries(values).filter(([field, value]) => JSON.stringify(value) !== JSON.stringify(base[field])));
    if (Object.keys(patch).length === 0) {
      result.textContent = 'Nothing to save: the form matches the current settings.';
      state.settingsDirty = false;
      return;
    }
    const button = event.submitter || $('settings-form').querySelector('button[type=submit]');
    button.disabled = true;
    result.textContent = 'Saving…';
    try {
      const saved = await api('PATCH', SETTINGS_PATH, patch);
      const changed = Object.keys(patch).map((f) => `${SETTING_FIELDS[f].label} ${show(base[f])} → ${show(saved[f])}`);
      state.settings = saved;
      state.settingsDirty = false;
      state.drawn.delete('settings');
      draw('settings', saved, fillSettings);
      result.textContent = `Saved: ${changed.join('; ')}.`;
    } catch (err) {
      result.textContent = err.status === 400 ? 'Not saved: the service refused these values.' : err.status === 403 ? 'Not saved: changing settings needs an admin token.' : `Not saved: ${err.message}`;
      if (err.status === 400) showSettingErrors(err);
    } finally {
      showReadOnly();
      if (!state.readOnly) button.disabled = false;
    }
    await refresh();
  }

  const show = (v) => (v === true ? 'on' : v === false ? 'off' : v !== null && typeof v === 'object' ? labelText(v) || 'none' : String(v));

  function discardSettings() {
    clearSettingErrors();
    state.settingsDirty = false;
    $('settings-result').textContent = '';
    if (state.settings) {
      state.drawn.delete('settings');
      draw('settings', state.settings, fillSettings);
    }
  }

  function renderHistory(changes) {
    const recent = (changes || []).slice(-8).reverse();
    $('settings-history').replaceChildren(
      ...(recent.length === 0
        ? [h('li', { class: 'muted', text: 'No change yet: the defaults apply.' })]
        : recent.map((c) =>
            h(
              'li',
              {},
              h('time', { datetime: c.at, title: c.at, text: formatTime(c.at) }),
              ` by ${c.by}: `,
              (c.changes || []).map((x) => `${SETTING_FIELDS[x.field]?.label ?? x.field} ${show(x.from)} → ${show(x.to)}`).join('; '),
            ),
          )),
    );
  }

  // ---- Wiring ---------------------------------------------------------------------------------

  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => logout());
  $('notice-close').addEventListener('click', hideNotice);
  $('check-now').addEventListener('click', checkNow);
  $('compliance-csv').addEventListener('click', exportCompliance);
  $('rollout-agents-close').addEventListener('click', closeRolloutAgents);
  $('component-close').addEventListener('click', closeComponent);
  $('component-unpin').addEventListener('click', () => state.component && componentAction('unpin', state.component));
  $('timeline-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const agentId = $('timeline-agent').value.trim();
    if (agentId) showTimelineOf(agentId);
  });
  for (const id of ['filter-status', 'filter-outdated']) $(id).addEventListener('change', filtersChanged);
  let searchTimer = null;
  for (const id of ['filter-q', 'filter-labels']) {
    $(id).addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(filtersChanged, 300);
    });
  }
  $('agents-prev').addEventListener('click', () => showAgentsFrom(state.agentsOffset - AGENTS_PAGE));
  $('agents-next').addEventListener('click', () => showAgentsFrom(state.agentsOffset + AGENTS_PAGE));
  $('bulk-update-now').addEventListener('click', () => bulkAction('update-now'));
  $('bulk-grant').addEventListener('click', () => bulkAction('grant'));
  $('bulk-revoke').addEventListener('click', () => bulkAction('revoke'));
  $('bulk-label').addEventListener('click', () => bulkAction('label'));
  $('agent-labels').addEventListener('click', () => agentAction('labels'));
  $('agent-update-now').addEventListener('click', () => agentAction('update-now'));
  $('agent-privilege').addEventListener('click', () => agentAction('privilege'));
  $('agent-filters').addEventListener('submit', (event) => event.preventDefault());
  $('settings-form').addEventListener('input', () => {
    state.settingsDirty = true;
    $('settings-result').textContent = 'Unsaved changes.';
  });
  $('settings-form').addEventListener('submit', saveSettings);
  $('settings-reset').addEventListener('click', discardSettings);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.token) void refresh();
  });

  if (state.token) {
    showApp();
    void refresh().then(schedule);
  } else {
    $('login').hidden = false;
  }
})();
