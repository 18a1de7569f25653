import { Injectable } from '@nestjs/common';
import { Database, Sql } from '@herald/event-store';

export interface StoredVersion {
  componentType: string;
  version: string;
  sha256: string;
  size: number;
  source: 'full' | 'incremental';
  downloadedAt: Date;
}

interface Row {
  component_type: string;
  version: string;
  sha256: string;
  size: string;
  source: 'full' | 'incremental';
  downloaded_at: Date;
}

const toStored = (r: Row): StoredVersion => ({
  componentType: r.component_type,
  version: r.version,
  sha256: r.sha256,
  size: Number(r.size),
  source: r.source,
  downloadedAt: r.downloaded_at,
});

/** Queries over the component-versions read model. */
@Injectable()
export class ComponentCatalog {
  constructor(private readonly db: Database) {}

  /** The newest kept version of every component type. */
  latest(sql?: Sql): Promise<StoredVersion[]> {
    const q = (s: Sql) =>
      s.rows<Row>(
        `SELECT DISTINCT ON (component_type) component_type, version, sha256, size, source, downloaded_at
           FROM component_versions ORDER BY component_type, version_key DESC`,
      );
    return (sql ? q(sql) : this.db.session(q)).then((rows) => rows.map(toStored));
  }

  async versions(componentType: string): Promise<StoredVersion[]> {
    const rows = await this.db.session((s) =>
      s.rows<Row>(
        `SELECT component_type, version, sha256, size, source, downloaded_at FROM component_versions
          WHERE component_type = $1 ORDER BY version_key DESC`,
        [componentType],
      ),
    );
    return rows.map(toStored);
  }

  async find(componentType: string, version: string): Promise<StoredVersion | undefined> {
    const row = await this.db.session((s) =>
      s.one<Row>(
        `SELECT component_type, version, sha256, size, source, downloaded_at FROM component_versions
          WHERE component_type = $1 AND version = $2`,
        [componentType, version],
      ),
    );
    return row && toStored(row);
  }

  async rejections(limit = 100): Promise<Array<{ componentType: string; version: string; reason: string; detail: string; at: Date }>> {
    const rows = await this.db.session((s) =>
      s.rows<{ component_type: string; version: string; reason: string; detail: string; at: Date }>(
        `SELECT component_type, version, reason, detail, at FROM component_rejections ORDER BY id DESC LIMIT $1`,
        [limit],
      ),
    );
    return rows.map((r) => ({ componentType: r.component_type, version: r.version, reason: r.reason, detail: r.detail, at: r.at }));
  }
}
