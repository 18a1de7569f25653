import { open } from 'node:fs/promises';
import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { compareVersions } from '@herald/contracts';
import { DELTA_FORMAT, type FullCoding, buildableFormats, fullCodings } from '@herald/delta';
import type { Logger } from 'pino';
import { CommandHandler, Database, EventStore } from '@herald/event-store';
import { ServiceConfig } from '@herald/platform';
import { PinoLogger } from 'nestjs-pino';
import type { ComponentDownloadConfig } from '../../config';
import { BlobStore } from '../blob-store';
import { ComponentCatalog } from '../component-catalog';
import { StoreHealth } from '../store-health';
import { ComponentEvent, ComponentState, PatchMethod, componentDecider, componentStreamId, patchWindow } from '../component.decider';
import { PatchJob, buildPatch } from './patch-builder';

export interface MaintenanceReport {
  componentType: string;
  built: Array<{ fromVersion: string; method: PatchMethod; format: string; size: number }>;
  /** Full files stored compressed for HTTP content coding. */
  encoded: Array<{ version: string; coding: string; size: number }>;
  /** Patches built but not kept: not smaller than the full file they lead to. */
  notSmaller: Array<{ fromVersion: string; format: string; size: number }>;
  missing: string[];
  retiredFulls: string[];
  retiredPatches: number;
}

/** Held shared while files are written before the events that refer to them; exclusively to delete. */
export const STORE_LOCK = 'herald:store';
const COLLECT = '\u0000collect';

/**
 * R5 in the background, after a version is kept (never on a download request): builds the
 * patches from each of the PATCH_WINDOW versions before the latest, then applies retention
 * (KEEP_FULL_VERSIONS fulls; only patches to the latest) and deletes files nothing refers to.
 * A patch from a version whose full file is kept is a diff of the two fulls; from an older one it
 * is the patch to the previous latest joined with the patch from there to the new latest. The
 * same pass runs at start-up, so a crash midway is finished later, and again for every type
 * when the store takes writes again after a fault (read-only, full). Idempotent; one instance
 * works on a type at a time (advisory lock).
 */
@Injectable()
export class PatchMaintainer implements OnApplicationBootstrap {
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly pending = new Set<string>();

  constructor(
    @Inject(ServiceConfig) private readonly config: ComponentDownloadConfig,
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly commands: CommandHandler,
    private readonly catalog: ComponentCatalog,
    private readonly blobs: BlobStore,
    private readonly storeHealth: StoreHealth,
    log: PinoLogger,
  ) {
    this.log = log.logger.child({ component: 'keep-versions' });
  }

  onApplicationBootstrap(): void {
    this.resumeAll();
    // Patches that could not be written while the store was read-only or full are built now.
    this.storeHealth.onRecovered(() => this.resumeAll());
  }

  private resumeAll(): void {
    void this.catalog
      .latest()
      .then((all) => all.forEach((v) => this.schedule(v.componentType)))
      .catch((err: Error) => this.log.warn({ err: err.message }, 'could not resume patch maintenance'));
  }

  /** Queues a pass for this type (once, however often it is asked for before it runs), then a file collection. */
  schedule(componentType: string): void {
    if (this.pending.has(componentType)) return;
    this.pending.add(componentType);
    this.queue = this.queue.then(async () => {
      this.pending.delete(componentType);
      try {
        await this.maintain(componentType);
      } catch (err) {
        if (this.storeHealth.fault('patches', err, `building patches of ${componentType}`, true)) {
          this.log.warn({ componentType, err: (err as Error).message }, 'patch maintenance stopped by a store fault; it runs again when the store takes writes');
        } else {
          this.log.error({ componentType, err: (err as Error).message }, 'patch maintenance failed; it runs again with the next version or restart');
        }
      }
    });
    this.scheduleCollection();
  }

  /** Queues a collection of unreferenced files (once, however often it is asked for before it runs). */
  scheduleCollection(): void {
    if (this.pending.has(COLLECT)) return;
    this.pending.add(COLLECT);
    this.queue = this.queue.then(async () => {
      this.pending.delete(COLLECT);
      try {
        await this.collect();
      } catch (err) {
        this.storeHealth.fault('collect', err, 'deleting unreferenced files', true);
        this.log.error({ err: (err as Error).message }, 'collecting unreferenced files failed; it runs again after the next pass');
      }
    });
  }

  /**
   * Deletes stored files that no kept version or patch refers to. A file is written before the
   * event that refers to it, so collection must not run while any check or pass (in any
   * instance) is between the two: those hold the store lock shared, this takes it exclusively
   * or skips (the pass or check that held it queues another collection when it ends).
   */
  async collect(): Promise<number | null> {
    return this.db.session(async (sql) => {
      const lock = await sql.one<{ locked: boolean }>(`SELECT pg_try_advisory_lock(hashtext($1)) AS locked`, [STORE_LOCK]);
      if (!lock?.locked) {
        this.log.debug('a check or pass is writing to the store; collecting later');
        return null;
      }
      try {
        const removed = await this.blobs.collectGarbage(await this.catalog.referencedDigests());
        if (removed.length > 0) this.log.info({ removed: removed.length }, 'deleted files no version or patch refers to');
        return removed.length;
      } finally {
        await sql.rows(`SELECT pg_advisory_unlock(hashtext($1))`, [STORE_LOCK]);
      }
    });
  }

  /** Resolves once every queued pass has run. */
  async idle(): Promise<void> {
    let seen: Promise<unknown>;
    do {
      seen = this.queue;
      await seen;
    } while (seen !== this.queue);
  }

  async maintain(componentType: string): Promise<MaintenanceReport | null> {
    return this.db.session(async (sql) => {
      const key = `herald:patches:${componentType}`;
      const lock = await sql.one<{ locked: boolean }>(`SELECT pg_try_advisory_lock(hashtext($1)) AS locked`, [key]);
      if (!lock?.locked) return null;
      await sql.rows(`SELECT pg_advisory_lock_shared(hashtext($1))`, [STORE_LOCK]);
      try {
        return await this.run(componentType);
      } finally {
        await sql.rows(`SELECT pg_advisory_unlock_shared(hashtext($1))`, [STORE_LOCK]);
        await sql.rows(`SELECT pg_advisory_unlock(hashtext($1))`, [key]);
      }
    });
  }

  private async state(componentType: string): Promise<ComponentState> {
    const { events } = await this.store.readStream<ComponentEvent>(componentStreamId(componentType));
    return events.reduce((s, e) => componentDecider.evolve(s, e), componentDecider.initialState());
  }

  private async run(componentType: string): Promise<MaintenanceReport> {
    const report: MaintenanceReport = { componentType, built: [], encoded: [], notSmaller: [], missing: [], retiredFulls: [], retiredPatches: 0 };
    let state = await this.state(componentType);
    const latest = state.latest;
    if (!latest) return report;
    const started = Date.now();
    for (const from of patchWindow(state, this.config.PATCH_WINDOW)) {
      const have = new Set(state.patches.filter((p) => p.fromVersion === from && p.toVersion === latest.version).map((p) => p.format));
      // Formats built before and found not smaller than the file count as had: not built again.
      const tried = new Set(state.notKept.filter((k) => k.startsWith(`${from}>${latest.version}|`)).map((k) => k.slice(k.indexOf('|') + 1)));
      const job = await this.jobFor(state, from, new Set([...have, ...tried]));
      if (job === 'none-missing') continue;
      if (!job) {
        if (have.size === 0) report.missing.push(from);
        continue;
      }
      for (const { format, patch } of await buildPatch(job.job)) {
        // A patch is worth keeping only if it is smaller than the file itself.
        if (patch.length >= latest.size) {
          await this.commands.handle(componentDecider, componentStreamId(componentType), {
            type: 'RecordPatchNotKept',
            componentType,
            fromVersion: from,
            toVersion: latest.version,
            format,
            size: patch.length,
            now: new Date(),
          });
          report.notSmaller.push({ fromVersion: from, format, size: patch.length });
          continue;
        }
        const stored = await this.blobs.put(patch);
        const result = await this.commands.handle(componentDecider, componentStreamId(componentType), {
          type: 'RecordPatchBuilt',
          componentType,
          fromVersion: from,
          toVersion: latest.version,
          format,
          ...stored,
          method: job.method,
          now: new Date(),
        });
        if (result.kind === 'handled') state = result.state;
        if (state.latest?.version !== latest.version) return report; // a newer version arrived; its own pass follows
        report.built.push({ fromVersion: from, method: job.method, format, size: stored.size });
      }
    }
    const retention = await this.commands.handle(componentDecider, componentStreamId(componentType), {
      type: 'ApplyRetention',
      componentType,
      keepFullVersions: this.config.KEEP_FULL_VERSIONS,
      patchWindow: this.config.PATCH_WINDOW,
      now: new Date(),
    });
    if (retention.kind === 'handled') {
      for (const e of retention.events) {
        if (e.type !== 'ComponentFilesRetired') continue;
        report.retiredFulls.push(...e.data.fullVersions);
        report.retiredPatches += e.data.patches.length;
      }
    }
    // After retention: fulls about to be retired are not worth compressing.
    await this.encodeFulls(componentType, await this.state(componentType), report);
    this.log.info({ ...report, built: report.built.length, encoded: report.encoded.length, ms: Date.now() - started, latest: latest.version }, 'patches built and retention applied');
    if (report.missing.length > 0) this.log.warn({ componentType, missing: report.missing }, 'no full file or patch chain to build these patches from');
    return report;
  }

  /**
   * Compresses each kept full file (the latest first) in every HTTP content coding not tried
   * for it yet, and keeps a coded copy only if it is smaller than the file (docs/downloads.md).
   */
  private async encodeFulls(componentType: string, state: ComponentState, report: MaintenanceReport): Promise<void> {
    const fulls = [...state.fulls].sort((a, b) => compareVersions(b.version, a.version));
    for (const full of fulls) {
      const codings = fullCodings().filter((c) => !state.encoded.includes(`${full.version}|${c}`));
      if (codings.length === 0 || !(await this.blobs.has(full.sha256))) continue;
      for (const { format: coding, patch: coded } of await buildPatch({ kind: 'encode', path: this.blobs.pathOf(full.sha256), codings })) {
        const smaller = coded.length < full.size;
        const stored = smaller ? await this.blobs.put(coded) : null;
        await this.commands.handle(componentDecider, componentStreamId(componentType), {
          type: 'RecordFullEncoded',
          componentType,
          version: full.version,
          coding: coding as FullCoding,
          sha256: stored?.sha256 ?? null,
          size: coded.length,
          now: new Date(),
        });
        if (smaller) report.encoded.push({ version: full.version, coding, size: coded.length });
      }
    }
  }

  /**
   * How to build the patches from `from` to the latest that are missing: a diff of the two full
   * files in every configured format that applies to the pair (sizes, zstd's binding), or, when
   * `from`'s full file is gone, a herald-delta-1 patch composed through a version in between.
   * 'none-missing' when every format that can be had is kept; null when nothing can be built.
   */
  private async jobFor(state: ComponentState, from: string, have: Set<string>): Promise<{ job: PatchJob; method: PatchMethod } | 'none-missing' | null> {
    const latest = state.latest!;
    const full = state.fulls.find((f) => f.version === from);
    if (full && (await this.blobs.has(full.sha256)) && (await this.blobs.has(latest.sha256))) {
      const basePath = this.blobs.pathOf(full.sha256);
      const applicable = new Set(buildableFormats(full.size, latest.size, await head(basePath)));
      const formats = this.config.PATCH_FORMATS.filter((f) => applicable.has(f) && !have.has(f));
      if (formats.length === 0) return 'none-missing';
      return { job: { kind: 'diff', basePath, targetPath: this.blobs.pathOf(latest.sha256), formats }, method: 'diff' };
    }
    if (have.has(DELTA_FORMAT)) return 'none-missing';
    // from → (some version v) → latest, where both herald-delta-1 patches are held; the nearest v first.
    const delta = state.patches.filter((p) => p.format === DELTA_FORMAT);
    const toLatest = delta.filter((p) => p.toVersion === latest.version && p.fromVersion !== from);
    for (const second of toLatest) {
      const first = delta.find((p) => p.fromVersion === from && p.toVersion === second.fromVersion);
      if (first && (await this.blobs.has(first.sha256)) && (await this.blobs.has(second.sha256))) {
        return { job: { kind: 'compose', firstPath: this.blobs.pathOf(first.sha256), secondPath: this.blobs.pathOf(second.sha256) }, method: 'composed' };
      }
    }
    return null;
  }
}

/** The first bytes of a file (what decides whether zstd reads it as raw content). */
async function head(file: string): Promise<Buffer> {
  const fd = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await fd.read(Buffer.alloc(4), 0, 4, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await fd.close();
  }
}
