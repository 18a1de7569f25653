import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ComponentVersionAvailable, Exchanges, isNewer } from '@herald/contracts';
import { CommandHandler, Database, OutboxMessage, RecordedEvent, Tx } from '@herald/event-store';
import { RUNTIME, ServiceRuntime } from '@herald/platform';
import type { ComponentDownloadConfig } from '../../config';
import { BlobStore, TooLargeError } from '../blob-store';
import { ComponentCatalog, StoredVersion } from '../component-catalog';
import { ComponentEvent, ComponentVersionDownloaded, RejectionReason, componentDecider, componentStreamId } from '../component.decider';
import { UpstreamManifest } from './upstream-manifest';

export interface CheckReport {
  checkedAt: string;
  /** False when another instance was already checking; nothing was done. */
  ran: boolean;
  downloaded: Array<{ componentType: string; version: string; size: number }>;
  rejected: Array<{ componentType: string; version: string; reason: RejectionReason; detail: string }>;
  upToDate: string[];
  error?: string;
}

/**
 * Looks at the upstream manifest and brings every newer component version home: streams it to
 * disk while hashing, checks size and SHA-256 against the manifest, keeps it only if both
 * match, and records the outcome as an event. A verified version is announced to the other
 * services through the outbox, in the same transaction as its event.
 */
@Injectable()
export class UpstreamChecker {
  private readonly config: ComponentDownloadConfig;
  private readonly log: Logger;
  private running: Promise<CheckReport> | null = null;

  constructor(
    @Inject(RUNTIME) runtime: ServiceRuntime<ComponentDownloadConfig>,
    private readonly db: Database,
    private readonly commands: CommandHandler,
    private readonly catalog: ComponentCatalog,
    private readonly blobs: BlobStore,
  ) {
    this.config = runtime.config;
    this.log = runtime.logger.child({ component: 'upstream' });
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
      try {
        return await this.runCheck();
      } finally {
        await sql.rows(`SELECT pg_advisory_unlock(hashtext('herald:upstream-check'))`);
      }
    });
  }

  private async runCheck(): Promise<CheckReport> {
    const report = emptyReport();
    const manifestUrl = this.config.UPSTREAM_MANIFEST_URL;
    if (!manifestUrl) {
      report.error = 'no upstream configured (UPSTREAM_MANIFEST_URL is not set)';
      return report;
    }
    let manifest: UpstreamManifest;
    try {
      manifest = await this.fetchManifest(manifestUrl);
    } catch (err) {
      report.error = `upstream manifest unusable: ${(err as Error).message}`;
      this.log.warn({ url: manifestUrl, err: (err as Error).message }, 'upstream check failed');
      return report;
    }
    const latest = new Map((await this.catalog.latest()).map((v) => [v.componentType, v]));
    for (const entry of manifest.components) {
      const have = latest.get(entry.type);
      if (!isNewer(entry.version, have?.version)) {
        report.upToDate.push(entry.type);
        continue;
      }
      const correlationId = `download-${randomUUID()}`;
      const log = this.log.child({ correlationId, componentType: entry.type, version: entry.version });
      const outcome = await this.download(entry, new URL(entry.url, manifestUrl), log);
      if (outcome.ok) {
        await this.recordVerified(entry.type, entry.version, outcome.sha256, outcome.size, correlationId);
        report.downloaded.push({ componentType: entry.type, version: entry.version, size: outcome.size });
        log.info({ size: outcome.size, sha256: outcome.sha256 }, 'component version verified and kept');
      } else {
        await this.commands.handle(
          componentDecider,
          componentStreamId(entry.type),
          { type: 'RecordRejectedDownload', componentType: entry.type, version: entry.version, reason: outcome.reason, detail: outcome.detail, now: new Date() },
          { metadata: { correlationId } },
        );
        report.rejected.push({ componentType: entry.type, version: entry.version, reason: outcome.reason, detail: outcome.detail });
        log.warn({ reason: outcome.reason, detail: outcome.detail }, 'component download rejected; nothing kept or announced');
      }
    }
    return report;
  }

  private async fetchManifest(url: string): Promise<UpstreamManifest> {
    const res = await fetch(url, { signal: AbortSignal.timeout(this.config.UPSTREAM_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}`);
    const parsed = UpstreamManifest.safeParse(await res.json());
    if (!parsed.success) throw new Error(`manifest does not match the upstream protocol: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }

  private async download(
    entry: UpstreamManifest['components'][number],
    url: URL,
    log: Logger,
  ): Promise<{ ok: true; sha256: string; size: number } | { ok: false; reason: RejectionReason; detail: string }> {
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.config.UPSTREAM_TIMEOUT_MS) });
      if (!res.ok || !res.body) return { ok: false, reason: 'download-failed', detail: `HTTP ${res.status} from ${url}` };
    } catch (err) {
      return { ok: false, reason: 'download-failed', detail: (err as Error).message };
    }
    log.debug({ url: url.toString() }, 'downloading component');
    let file;
    try {
      file = await this.blobs.receive(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), entry.size);
    } catch (err) {
      if (err instanceof TooLargeError) return { ok: false, reason: 'size-mismatch', detail: `file is larger than the manifest's ${entry.size} bytes` };
      return { ok: false, reason: 'download-failed', detail: (err as Error).message };
    }
    if (file.size !== entry.size) {
      await this.blobs.discard(file);
      return { ok: false, reason: 'size-mismatch', detail: `got ${file.size} bytes, manifest says ${entry.size}` };
    }
    if (file.sha256 !== entry.sha256) {
      await this.blobs.discard(file);
      return { ok: false, reason: 'digest-mismatch', detail: `SHA-256 ${file.sha256} does not match the manifest's ${entry.sha256}` };
    }
    await this.blobs.commit(file);
    return { ok: true, sha256: file.sha256, size: file.size };
  }

  private recordVerified(componentType: string, version: string, sha256: string, size: number, correlationId: string) {
    return this.commands.handle(
      componentDecider,
      componentStreamId(componentType),
      { type: 'RecordVerifiedDownload', componentType, version, sha256, size, source: 'full', now: new Date() },
      {
        metadata: { correlationId },
        outbox: ({ events, tx }) => this.announce(events, tx, correlationId),
      },
    );
  }

  /** component.version-available for each newly kept version, with the whole current catalog. */
  private async announce(events: readonly RecordedEvent<ComponentEvent>[], tx: Tx, correlationId: string): Promise<OutboxMessage[]> {
    const downloaded = events.filter((e): e is RecordedEvent<ComponentVersionDownloaded> => e.type === 'ComponentVersionDownloaded');
    if (downloaded.length === 0) return [];
    const catalog = (await this.catalog.latest(tx)).map((v) => this.target(v));
    return downloaded.map((e) => {
      const payload: ComponentVersionAvailable = {
        type: 'component.version-available',
        schemaVersion: 1,
        messageId: randomUUID(),
        occurredAt: e.data.downloadedAt,
        correlationId,
        component: this.target({ componentType: e.data.componentType, version: e.data.version, sha256: e.data.sha256, size: e.data.size }),
        previousVersion: e.data.previousVersion,
        catalog,
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

  private target(v: Pick<StoredVersion, 'componentType' | 'version' | 'sha256' | 'size'>) {
    return {
      type: v.componentType,
      version: v.version,
      sha256: v.sha256,
      size: v.size,
      url: downloadUrl(this.config.PUBLIC_BASE_URL, v.componentType, v.version),
    };
  }
}

export function downloadUrl(base: string, componentType: string, version: string): string {
  return new URL(`components/${encodeURIComponent(componentType)}/versions/${encodeURIComponent(version)}/download`, base.endsWith('/') ? base : `${base}/`).toString();
}

function emptyReport(): CheckReport {
  return { checkedAt: new Date().toISOString(), ran: true, downloaded: [], rejected: [], upToDate: [] };
}
