import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { Inject, Injectable } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import {
  type ComponentTarget,
  ComponentVersionAvailable,
  Exchanges,
  SignedManifestEnvelope,
  SignedStatement,
  UpstreamComponent,
  UpstreamManifest,
  compareVersions,
  parsePublicKey,
  verifyManifest,
  verifyStatement,
} from '@herald/contracts';
import { redactUrl, redactUrlsIn } from '@herald/common';
import { DELTA_FORMAT, applyPatchFile } from '@herald/delta';
import { CommandHandler, Database, OutboxMessage, Tx } from '@herald/event-store';
import { RecordedEvent } from '@herald/domain';
import { ServiceConfig } from '@herald/platform';
import { PinoLogger } from 'nestjs-pino';
import type { ComponentDownloadConfig } from '../../config';
import { BlobStore } from '../blob-store';
import { ComponentCatalog, StoredVersion } from '../component-catalog';
import { ComponentEvent, ComponentState, ComponentVersionDownloaded, RejectionReason, componentDecider, componentStreamId } from '../component.decider';
import { componentTarget } from '../component-target';
import { PatchMaintainer, STORE_LOCK } from '../keep-versions/patch-maintainer';
import { ComponentMetrics } from '../component-metrics';
import { StorageFaultError, storageFaultKind } from '../storage-faults';
import { StoreHealth } from '../store-health';
import { downloadResumable } from './resumable-download';
import { ManifestRejectionReason, UPSTREAM_STREAM, manifestAccepted, upstreamDecider } from './upstream.decider';

export interface CheckReport {
  checkedAt: string;
  /** False when another instance was already checking; nothing was done. */
  ran: boolean;
  manifest?: { manifestVersion: number | null; accepted: boolean; reason?: ManifestRejectionReason; detail?: string };
  downloaded: Array<{ componentType: string; version: string; size: number; source: 'full' | 'incremental'; patchedFrom?: string }>;
  rejected: Array<{ componentType: string; version: string; reason: RejectionReason; detail: string }>;
  upToDate: string[];
  error?: string;
}

type Obtained = { ok: true; sha256: string; size: number; source: 'full' | 'incremental'; patchedFrom?: string; upstreamPatch?: { sha256: string; size: number } } | { ok: false; reason: RejectionReason; detail: string };

/**
 * Looks at the upstream's signed manifest and brings every newer component version home. The
 * manifest must verify with the configured key and be no older than one accepted before. A
 * version is rebuilt from an upstream patch when one starts from a full version held here,
 * otherwise downloaded whole; either way it is streamed to disk, resumed after a cut, and kept
 * only when its size and SHA-256 are the manifest's. Each outcome is an event; a kept version is
 * announced through the outbox in the same transaction, then its agent patches are built in the
 * background. A store that does not take the file (read-only, full, I/O error) fails that
 * version with `store-unavailable`, recorded like any refusal; the next check tries again, and
 * a check first tests the store, so the one after the disk recovers succeeds.
 */
@Injectable()
export class UpstreamChecker {
  private readonly log: Logger;
  private readonly key: KeyObject | null;
  private running: Promise<CheckReport> | null = null;

  constructor(
    @Inject(ServiceConfig) private readonly config: ComponentDownloadConfig,
    private readonly db: Database,
    private readonly commands: CommandHandler,
    private readonly catalog: ComponentCatalog,
    private readonly blobs: BlobStore,
    private readonly patches: PatchMaintainer,
    private readonly metrics: ComponentMetrics,
    private readonly store: StoreHealth,
    log: PinoLogger,
  ) {
    this.log = log.logger.child({ component: 'upstream' });
    this.key = this.config.UPSTREAM_PUBLIC_KEY ? parsePublicKey(this.config.UPSTREAM_PUBLIC_KEY) : null;
  }

  /** Runs a check now, or joins the one already running in this process. */
  check(): Promise<CheckReport> {
    this.running ??= this.checkAcrossInstances().finally(() => (this.running = null));
    return this.running;
  }

  private checkAcrossInstances(): Promise<CheckReport> {
    // One instance checks at a time; the others skip rather than download the same files.
    return this.db.session(async (sql) => {
      const lock = await sql.one<{ locked: boolean }>(`SELECT pg_try_advisory_lock(hashtext('herald:upstream-check')) AS locked`);
      if (!lock?.locked) return { ...emptyReport(), ran: false };
      // Files land in the store before the events that refer to them: no collection meanwhile.
      await sql.rows(`SELECT pg_advisory_lock_shared(hashtext($1))`, [STORE_LOCK]);
      try {
        return await this.runCheck();
      } finally {
        await sql.rows(`SELECT pg_advisory_unlock_shared(hashtext($1))`, [STORE_LOCK]);
        await sql.rows(`SELECT pg_advisory_unlock(hashtext('herald:upstream-check'))`);
        this.patches.scheduleCollection();
      }
    });
  }

  private async runCheck(): Promise<CheckReport> {
    const report = emptyReport();
    const manifestUrl = this.config.UPSTREAM_MANIFEST_URL;
    if (!manifestUrl || !this.key) {
      report.error = 'no upstream configured (UPSTREAM_MANIFEST_URL is not set)';
      return report;
    }
    const trusted = await this.trustedManifest(manifestUrl, this.key, report);
    if (!trusted) return report;
    const { manifest, envelope } = trusted;
    const latest = new Map((await this.catalog.latest()).map((v) => [v.componentType, v]));
    // Whether the store takes writes now (not as of the last periodic probe): a check right after
    // the disk recovers must not be refused on old news.
    const needed = manifest.components.some((e) => !latest.has(e.type) || compareVersions(e.version, latest.get(e.type)!.version) > 0);
    const store = needed ? await this.store.probe() : null;
    for (const entry of manifest.components) {
      const have = latest.get(entry.type);
      const order = have ? compareVersions(entry.version, have.version) : 1;
      if (order === 0) {
        report.upToDate.push(entry.type);
        continue;
      }
      const correlationId = `download-${randomUUID()}`;
      const log = this.log.child({ correlationId, componentType: entry.type, version: entry.version });
      if (order < 0) {
        await this.reject(entry, 'rollback', `the manifest offers ${entry.version}, older than ${have!.version} kept here`, correlationId, log, report);
        continue;
      }
      if (store && !store.writable) {
        this.store.fault('check', new StorageFaultError(store.fault ?? 'io', store.message ?? 'the component store does not take writes'));
        await this.reject(entry, 'store-unavailable', `${store.message ?? 'the component store does not take writes'}; the next check tries again`, correlationId, log, report);
        continue;
      }
      const statement = this.statementFor(entry, envelope, this.key);
      if (!statement.ok) {
        await this.reject(entry, 'bad-statement', statement.detail, correlationId, log, report);
        continue;
      }
      if (!statement.statement) log.warn('no statement of this version for agents (the manifest is too large to stand in for one): agents that pin the upstream key will refuse it');
      const outcome = await this.obtain(entry, have, new URL(manifestUrl), correlationId, log, report);
      if (!outcome.ok) {
        await this.reject(entry, outcome.reason, outcome.detail, correlationId, log, report);
        continue;
      }
      await this.recordVerified(entry, outcome, statement.statement, correlationId);
      report.downloaded.push({
        componentType: entry.type,
        version: entry.version,
        size: outcome.size,
        source: outcome.source,
        ...(outcome.patchedFrom ? { patchedFrom: outcome.patchedFrom } : {}),
      });
      log.info({ size: outcome.size, sha256: outcome.sha256, source: outcome.source, patchedFrom: outcome.patchedFrom }, 'component version verified and kept');
      if (outcome.upstreamPatch && outcome.patchedFrom && outcome.upstreamPatch.size < outcome.size) {
        // The upstream's patch is as good for agents on that version as one built here (kept,
        // like those, only if smaller than the file).
        await this.commands.handle(componentDecider, componentStreamId(entry.type), {
          type: 'RecordPatchBuilt',
          componentType: entry.type,
          fromVersion: outcome.patchedFrom,
          toVersion: entry.version,
          // Upstream manifests carry herald-delta-1 patches only (UpstreamPatch).
          format: DELTA_FORMAT,
          ...outcome.upstreamPatch,
          method: 'upstream',
          now: new Date(),
        });
      }
      this.patches.schedule(entry.type);
    }
    return report;
  }

  /**
   * The signed statement agents get for this version: the entry's own, once it verifies with the
   * trusted key and says what the entry says; from an upstream that signs no per-version
   * statements, the whole signed manifest (if it is not too large to travel in commands).
   */
  private statementFor(entry: UpstreamComponent, envelope: SignedManifestEnvelope, key: KeyObject): { ok: true; statement: SignedStatement | null } | { ok: false; detail: string } {
    if (!entry.statement) {
      // Too large (or in a form agents cannot take, e.g. base64 with line breaks): none.
      const whole = SignedStatement.safeParse(envelope);
      return { ok: true, statement: whole.success ? whole.data : null };
    }
    const verdict = verifyStatement(entry.statement, key, entry);
    if (!verdict.ok) return { ok: false, detail: `the entry's signed statement: ${verdict.detail}` };
    if (verdict.statement.sha256 !== entry.sha256 || verdict.statement.size !== entry.size) {
      return { ok: false, detail: `the entry's signed statement says SHA-256 ${verdict.statement.sha256} (${verdict.statement.size} bytes), the entry ${entry.sha256} (${entry.size} bytes)` };
    }
    return { ok: true, statement: entry.statement };
  }

  /** The manifest, if it is signed by the trusted key and not older than one accepted before; else null, recorded. */
  private async trustedManifest(url: string, key: KeyObject, report: CheckReport): Promise<{ manifest: UpstreamManifest; envelope: SignedManifestEnvelope } | null> {
    let document: unknown;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.config.UPSTREAM_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`HTTP ${res.status} from ${redactUrl(url)}`);
      document = JSON.parse(await res.text());
    } catch (err) {
      // fetch's own messages quote the URL (one with credentials in it is refused, quoted whole).
      const message = redactUrlsIn((err as Error).message);
      report.error = `upstream manifest unavailable: ${message}`;
      this.log.warn({ url: redactUrl(url), err: message }, 'upstream check failed: manifest unavailable');
      return null;
    }
    const verdict = verifyManifest(document, key);
    const now = new Date();
    if (!verdict.ok) {
      this.metrics.rejections.inc({ reason: verdict.reason });
      await this.commands.handle(upstreamDecider, UPSTREAM_STREAM, {
        type: 'RecordRejectedManifest',
        reason: verdict.reason,
        detail: verdict.detail,
        manifestVersion: verdict.manifestVersion,
        now,
      });
      report.manifest = { manifestVersion: verdict.manifestVersion, accepted: false, reason: verdict.reason, detail: verdict.detail };
      this.log.warn({ url: redactUrl(url), reason: verdict.reason, detail: verdict.detail, manifestVersion: verdict.manifestVersion }, 'upstream manifest rejected; nothing downloaded');
      return null;
    }
    const { manifestVersion, publishedAt } = verdict.manifest;
    const result = await this.commands.handle(upstreamDecider, UPSTREAM_STREAM, { type: 'RecordVerifiedManifest', manifestVersion, publishedAt, now });
    if (result.kind === 'handled' && !manifestAccepted(result.state, manifestVersion)) {
      const detail = `manifest version ${manifestVersion} is older than ${result.state.highestVersion}, accepted before`;
      report.manifest = { manifestVersion, accepted: false, reason: 'rollback', detail };
      this.metrics.rejections.inc({ reason: 'rollback' });
      this.log.warn({ url: redactUrl(url), reason: 'rollback', manifestVersion, highest: result.state.highestVersion }, 'upstream manifest rejected (rollback); nothing downloaded');
      return null;
    }
    report.manifest = { manifestVersion, accepted: true };
    return { manifest: verdict.manifest, envelope: verdict.envelope };
  }

  /** The version's file, in the store; a fault of the store is an outcome (`store-unavailable`), never an exception. */
  private async obtain(entry: UpstreamComponent, have: StoredVersion | undefined, base: URL, correlationId: string, log: Logger, report: CheckReport): Promise<Obtained> {
    try {
      return await this.obtainFile(entry, have, base, correlationId, log, report);
    } catch (err) {
      const fault = this.store.fault('check', err, `keeping ${entry.type} ${entry.version}`, true);
      if (!fault) throw err;
      return { ok: false, reason: 'store-unavailable', detail: `${fault.message}; the next check tries again` };
    }
  }

  private async obtainFile(entry: UpstreamComponent, have: StoredVersion | undefined, base: URL, correlationId: string, log: Logger, report: CheckReport): Promise<Obtained> {
    const incremental = have ? await this.viaPatch(entry, base, log) : null;
    if (incremental?.ok) return incremental;
    if (incremental && !incremental.ok) await this.reject(entry, 'patch-failed', `${incremental.detail}; downloading the full file instead`, correlationId, log, report);
    const url = new URL(entry.url, base);
    log.debug({ url: redactUrl(url.toString()) }, 'downloading the full component file');
    const got = await downloadResumable({
      url,
      expected: { size: entry.size, sha256: entry.sha256 },
      partialPath: this.blobs.partialPath(entry.sha256),
      attempts: this.config.UPSTREAM_DOWNLOAD_ATTEMPTS,
      idleTimeoutMs: this.config.UPSTREAM_TIMEOUT_MS,
      log,
    });
    if (!got.ok && got.reason === 'store-unavailable') throw new StorageFaultError(got.fault, got.detail);
    if (!got.ok) return got;
    if (got.resumedFrom.length > 0) log.info({ resumedFrom: got.resumedFrom }, 'download resumed after a cut and completed');
    await this.blobs.commitPath(got.path, got.sha256);
    return { ok: true, sha256: got.sha256, size: got.size, source: 'full' };
  }

  /**
   * Rebuilds the new version from an upstream patch whose base is a full version held here;
   * null when there is none to use.
   */
  private async viaPatch(entry: UpstreamComponent, base: URL, log: Logger): Promise<Obtained | null> {
    const kept = new Map((await this.catalog.versions(entry.type)).map((v) => [v.version, v]));
    const usable = entry.patches
      .filter((p) => p.format === DELTA_FORMAT && p.toVersion === entry.version && kept.has(p.fromVersion))
      .sort((a, b) => compareVersions(b.fromVersion, a.fromVersion))[0];
    if (!usable) return null;
    const from = kept.get(usable.fromVersion)!;
    if (!(await this.blobs.has(from.sha256))) return null;
    const url = new URL(usable.url, base);
    log.debug({ url: redactUrl(url.toString()), from: usable.fromVersion }, 'downloading the upstream incremental');
    const got = await downloadResumable({
      url,
      expected: { size: usable.size, sha256: usable.sha256 },
      partialPath: this.blobs.partialPath(usable.sha256),
      attempts: this.config.UPSTREAM_DOWNLOAD_ATTEMPTS,
      idleTimeoutMs: this.config.UPSTREAM_TIMEOUT_MS,
      log,
    });
    if (!got.ok && got.reason === 'store-unavailable') throw new StorageFaultError(got.fault, got.detail);
    if (!got.ok) return { ok: false, reason: 'patch-failed', detail: `upstream patch from ${usable.fromVersion}: ${got.reason}: ${got.detail}` };
    const rebuilt = this.blobs.tempPath();
    try {
      const patch = await readFile(got.path);
      const result = await applyPatchFile(this.blobs.pathOf(from.sha256), patch, rebuilt);
      if (result.sha256 !== entry.sha256 || result.size !== entry.size) {
        throw new Error(`the rebuilt file (${result.size} bytes, SHA-256 ${result.sha256}) is not the manifest's ${entry.sha256}`);
      }
      await this.blobs.commitPath(rebuilt, result.sha256);
      const stored = await this.blobs.put(patch);
      return { ok: true, sha256: result.sha256, size: result.size, source: 'incremental', patchedFrom: usable.fromVersion, upstreamPatch: stored };
    } catch (err) {
      await rm(rebuilt, { force: true }).catch(() => undefined);
      // The disk, not the patch: the whole version waits for the store (obtain records it).
      if (storageFaultKind(err)) throw err;
      return { ok: false, reason: 'patch-failed', detail: `upstream patch from ${usable.fromVersion} did not rebuild the file: ${(err as Error).message}` };
    } finally {
      await rm(got.path, { force: true }).catch(() => undefined);
    }
  }

  private async reject(entry: UpstreamComponent, reason: RejectionReason, detail: string, correlationId: string, log: Logger, report: CheckReport): Promise<void> {
    await this.commands.handle(
      componentDecider,
      componentStreamId(entry.type),
      { type: 'RecordRejectedDownload', componentType: entry.type, version: entry.version, reason, detail, now: new Date() },
      { metadata: { correlationId } },
    );
    report.rejected.push({ componentType: entry.type, version: entry.version, reason, detail });
    this.metrics.rejections.inc({ reason });
    log.warn({ reason, detail }, reason === 'patch-failed' ? 'upstream incremental rejected' : 'component download rejected; nothing kept or announced');
  }

  private recordVerified(entry: UpstreamComponent, got: Extract<Obtained, { ok: true }>, statement: SignedStatement | null, correlationId: string) {
    return this.commands.handle(
      componentDecider,
      componentStreamId(entry.type),
      {
        type: 'RecordVerifiedDownload',
        componentType: entry.type,
        version: entry.version,
        sha256: got.sha256,
        size: got.size,
        source: got.source,
        patchedFrom: got.patchedFrom ?? null,
        statement,
        now: new Date(),
      },
      {
        metadata: { correlationId },
        outbox: ({ events, tx, after }) => this.announce(events, tx, after, correlationId),
      },
    );
  }

  /** component.version-available for each newly kept version, with the whole current catalog and the type's pin. */
  private async announce(events: readonly RecordedEvent<ComponentEvent>[], tx: Tx, after: ComponentState, correlationId: string): Promise<OutboxMessage[]> {
    const downloaded = events.filter((e): e is RecordedEvent<ComponentVersionDownloaded> => e.type === 'ComponentVersionDownloaded');
    if (downloaded.length === 0) return [];
    const catalog = (await this.catalog.latest(tx)).map((v) => this.target(v));
    const pinned = after.pinned === null ? undefined : await this.catalog.find(downloaded[0]!.data.componentType, after.pinned, tx);
    return downloaded.map((e) => {
      const payload: ComponentVersionAvailable = {
        type: 'component.version-available',
        schemaVersion: 1,
        messageId: randomUUID(),
        occurredAt: e.data.downloadedAt,
        correlationId,
        component: this.target({ componentType: e.data.componentType, version: e.data.version, sha256: e.data.sha256, size: e.data.size, statement: e.data.statement ?? null }),
        previousVersion: e.data.previousVersion,
        catalog,
        pin: { sequence: e.streamPosition, pinned: pinned ? this.target(pinned) : null },
      };
      return {
        messageId: payload.messageId,
        exchange: Exchanges.events,
        routingKey: payload.type,
        type: payload.type,
        correlationId,
        payload,
      };
    });
  }

  private target(v: Pick<StoredVersion, 'componentType' | 'version' | 'sha256' | 'size' | 'statement'>): ComponentTarget {
    return componentTarget(this.config.PUBLIC_BASE_URL, v);
  }
}

function emptyReport(): CheckReport {
  return { checkedAt: new Date().toISOString(), ran: true, downloaded: [], rejected: [], upToDate: [] };
}
