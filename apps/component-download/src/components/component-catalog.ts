import { Injectable } from '@nestjs/common';
import type { SignedStatement } from '@herald/contracts';
import { Database, Sql } from '@herald/event-store';

export interface StoredVersion {
  componentType: string;
  version: string;
  sha256: string;
  size: number;
  source: 'full' | 'incremental';
  /** The upstream patch's base version, when the file was rebuilt from one. */
  patchedFrom: string | null;
  /** The upstream's signed statement for the version; null for versions kept before statements were kept. */
  statement: SignedStatement | null;
  downloadedAt: Date;
}

export interface StoredPatch {
  componentType: string;
  fromVersion: string;
  toVersion: string;
  sha256: string;
  size: number;
  method: string;
  /** herald-delta-1, bsdiff40 or zstd-patch-from. */
  format: string;
  builtAt: Date;
}

/** A kept full file compressed for HTTP content coding. */
export interface StoredEncoding {
  coding: string;
  sha256: string;
  size: number;
}

interface Row {
  component_type: string;
  version: string;
  sha256: string;
  size: string;
  source: 'full' | 'incremental';
  patched_from: string | null;
  statement: SignedStatement | null;
  downloaded_at: Date;
}

interface PatchRow {
  component_type: string;
  from_version: string;
  to_version: string;
  sha256: string;
  size: string;
  method: string;
  format: string;
  built_at: Date;
}

const toPatch = (r: PatchRow): StoredPatch => ({
  componentType: r.component_type,
  fromVersion: r.from_version,
  toVersion: r.to_version,
  sha256: r.sha256,
  size: Number(r.size),
  method: r.method,
  format: r.format,
  builtAt: r.built_at,
});

const toStored = (r: Row): StoredVersion => ({
  componentType: r.component_type,
  version: r.version,
  sha256: r.sha256,
  size: Number(r.size),
  source: r.source,
  patchedFrom: r.patched_from,
  statement: r.statement,
  downloadedAt: r.downloaded_at,
});

/** An admin's pin of a component type to a kept version. */
export interface Pin {
  version: string;
  by: string;
  reason: string | null;
  at: Date;
}

export interface Rejection {
  scope: 'component' | 'manifest';
  componentType: string | null;
  version: string | null;
  manifestVersion: number | null;
  reason: string;
  detail: string;
  at: Date;
}

export interface FileFault {
  componentType: string;
  version: string;
  patchFrom: string | null;
  sha256: string;
  fault: string;
  detail: string;
  at: Date;
}

/** Queries over the component-versions read model. */
@Injectable()
export class ComponentCatalog {
  constructor(private readonly db: Database) {}

  /** The newest kept version of every component type. */
  latest(sql?: Sql): Promise<StoredVersion[]> {
    const q = (s: Sql) =>
      s.rows<Row>(
        `SELECT DISTINCT ON (component_type) component_type, version, sha256, size, source, patched_from, statement, downloaded_at
           FROM component_versions ORDER BY component_type, version_key DESC`,
      );
    return (sql ? q(sql) : this.db.session(q)).then((rows) => rows.map(toStored));
  }

  async versions(componentType: string): Promise<StoredVersion[]> {
    const rows = await this.db.session((s) =>
      s.rows<Row>(
        `SELECT component_type, version, sha256, size, source, patched_from, statement, downloaded_at FROM component_versions
          WHERE component_type = $1 ORDER BY version_key DESC`,
        [componentType],
      ),
    );
    return rows.map(toStored);
  }

  async find(componentType: string, version: string, sql?: Sql): Promise<StoredVersion | undefined> {
    const q = (s: Sql) =>
      s.one<Row>(
        `SELECT component_type, version, sha256, size, source, patched_from, statement, downloaded_at FROM component_versions
          WHERE component_type = $1 AND version = $2`,
        [componentType, version],
      );
    const row = await (sql ? q(sql) : this.db.session(q));
    return row && toStored(row);
  }

  /**
   * What a download needs, in one round trip: the version, its coded copies (smallest first) and,
   * with `fromVersion`, the patches from there to it in every format (smallest first).
   */
  async forDownload(
    componentType: string,
    version: string,
    fromVersion: string | undefined,
  ): Promise<{ version: StoredVersion; encodings: StoredEncoding[]; patches: StoredPatch[] } | undefined> {
    const row = await this.db.session((s) =>
      s.one<Row & { encodings: Array<{ coding: string; sha256: string; size: number }>; patches: PatchRow[] }>(
        `SELECT v.component_type, v.version, v.sha256, v.size, v.source, v.patched_from, v.statement, v.downloaded_at,
                coalesce((SELECT json_agg(json_build_object('coding', e.coding, 'sha256', e.sha256, 'size', e.size) ORDER BY e.size, e.coding)
                            FROM component_encodings e WHERE e.component_type = v.component_type AND e.version = v.version), '[]') AS encodings,
                coalesce((SELECT json_agg(p ORDER BY p.size, p.format)
                            FROM component_patches p WHERE p.component_type = v.component_type AND p.to_version = v.version AND p.from_version = $3), '[]') AS patches
           FROM component_versions v WHERE v.component_type = $1 AND v.version = $2`,
        [componentType, version, fromVersion ?? null],
      ),
    );
    if (!row) return undefined;
    return {
      version: toStored(row),
      encodings: row.encodings.map((e) => ({ coding: e.coding, sha256: e.sha256, size: Number(e.size) })),
      patches: row.patches.map((p) => toPatch({ ...p, built_at: new Date(p.built_at) })),
    };
  }

  /** The pin of every pinned component type. */
  async pins(sql?: Sql): Promise<Map<string, Pin>> {
    const q = (s: Sql) => s.rows<{ component_type: string; version: string; pinned_by: string; reason: string | null; pinned_at: Date }>('SELECT * FROM component_pins');
    const rows = await (sql ? q(sql) : this.db.session(q));
    return new Map(rows.map((r) => [r.component_type, { version: r.version, by: r.pinned_by, reason: r.reason, at: r.pinned_at }]));
  }

  /** Refused downloads and manifests, newest first; a manifest refusal names no component. */
  async rejections(limit = 100): Promise<Rejection[]> {
    const rows = await this.db.session((s) =>
      s.rows<{ scope: 'component' | 'manifest'; component_type: string | null; version: string | null; manifest_version: number | null; reason: string; detail: string; at: Date }>(
        `SELECT scope, component_type, version, manifest_version, reason, detail, at FROM component_rejections ORDER BY id DESC LIMIT $1`,
        [limit],
      ),
    );
    return rows.map((r) => ({
      scope: r.scope,
      componentType: r.component_type,
      version: r.version,
      manifestVersion: r.manifest_version,
      reason: r.reason,
      detail: r.detail,
      at: r.at,
    }));
  }

  /** Kept files found missing or damaged when an agent asked for them, newest first. */
  async fileFaults(limit = 100): Promise<FileFault[]> {
    const rows = await this.db.session((s) =>
      s.rows<{ component_type: string; version: string; patch_from: string | null; sha256: string; fault: string; detail: string; at: Date }>(
        `SELECT component_type, version, patch_from, sha256, fault, detail, at FROM component_file_faults ORDER BY id DESC LIMIT $1`,
        [limit],
      ),
    );
    return rows.map((r) => ({ componentType: r.component_type, version: r.version, patchFrom: r.patch_from, sha256: r.sha256, fault: r.fault, detail: r.detail, at: r.at }));
  }

  /** Patches to `toVersion` (all kept patches of the type when omitted), nearest base first. */
  async patches(componentType: string, toVersion?: string): Promise<StoredPatch[]> {
    const rows = await this.db.session((s) =>
      s.rows<PatchRow>(
        `SELECT * FROM component_patches WHERE component_type = $1 AND ($2::text IS NULL OR to_version = $2)
          ORDER BY to_version_key DESC, from_version_key DESC, size, format`,
        [componentType, toVersion ?? null],
      ),
    );
    return rows.map(toPatch);
  }

  /** Whether the patch from `from` to `to` was built in some format and found not smaller than the file. */
  async patchNotKept(componentType: string, from: string, to: string): Promise<boolean> {
    const row = await this.db.session((s) =>
      s.one<{ found: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM component_patches_not_kept WHERE component_type = $1 AND from_version = $2 AND to_version = $3) AS found`,
        [componentType, from, to],
      ),
    );
    return row?.found === true;
  }

  /** The content-coded copies of a kept full file, smallest first. */
  async encodings(componentType: string, version: string): Promise<StoredEncoding[]> {
    const rows = await this.db.session((s) =>
      s.rows<{ coding: string; sha256: string; size: string }>(
        `SELECT coding, sha256, size FROM component_encodings WHERE component_type = $1 AND version = $2 ORDER BY size, coding`,
        [componentType, version],
      ),
    );
    return rows.map((r) => ({ coding: r.coding, sha256: r.sha256, size: Number(r.size) }));
  }

  /** Every digest a kept full, coded copy or patch refers to: the files retention must not delete. */
  async referencedDigests(): Promise<Set<string>> {
    const rows = await this.db.session((s) =>
      s.rows<{ sha256: string }>(`SELECT sha256 FROM component_versions UNION SELECT sha256 FROM component_patches UNION SELECT sha256 FROM component_encodings`),
    );
    return new Set(rows.map((r) => r.sha256));
  }
}
