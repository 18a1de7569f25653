import type { Projection, RecordedEvent, Tx } from '@herald/event-store';
import type { ComponentEvent } from './component.decider';
import type { UpstreamEvent } from './check-upstream/upstream.decider';

/**
 * Every kept version and patch and every rejection, queryable by type; updated with the events.
 * Retired fulls and patches leave the tables, so they list what the server can hand out.
 */
export const componentVersionsProjection: Projection = {
  name: 'component-versions',
  eventTypes: ['ComponentVersionDownloaded', 'ComponentDownloadRejected', 'ComponentPatchBuilt', 'ComponentFilesRetired', 'UpstreamManifestRejected'],
  async apply(tx: Tx, events: readonly RecordedEvent[]) {
    for (const e of events as readonly RecordedEvent<ComponentEvent | UpstreamEvent>[]) {
      switch (e.type) {
        case 'ComponentVersionDownloaded':
          await tx.exec(
            `INSERT INTO component_versions (component_type, version, version_key, sha256, size, source, downloaded_at, patched_from)
             VALUES ($1, $2, string_to_array($2, '.')::integer[], $3, $4, $5, $6, $7)
             ON CONFLICT (component_type, version) DO NOTHING`,
            [e.data.componentType, e.data.version, e.data.sha256, e.data.size, e.data.source, e.data.downloadedAt, e.data.patchedFrom ?? null],
          );
          break;
        case 'ComponentDownloadRejected':
          await tx.exec(`INSERT INTO component_rejections (component_type, version, reason, detail, at) VALUES ($1, $2, $3, $4, $5)`, [
            e.data.componentType,
            e.data.version,
            e.data.reason,
            e.data.detail,
            e.data.at,
          ]);
          break;
        case 'UpstreamManifestRejected':
          await tx.exec(`INSERT INTO component_rejections (scope, manifest_version, reason, detail, at) VALUES ('manifest', $1, $2, $3, $4)`, [
            e.data.manifestVersion,
            e.data.reason,
            e.data.detail,
            e.data.at,
          ]);
          break;
        case 'ComponentPatchBuilt':
          await tx.exec(
            `INSERT INTO component_patches (component_type, from_version, to_version, sha256, size, method, built_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
            [e.data.componentType, e.data.fromVersion, e.data.toVersion, e.data.sha256, e.data.size, e.data.method, e.data.builtAt],
          );
          break;
        case 'ComponentFilesRetired':
          if (e.data.fullVersions.length > 0) {
            await tx.exec(`DELETE FROM component_versions WHERE component_type = $1 AND version = ANY($2::text[])`, [e.data.componentType, e.data.fullVersions]);
          }
          for (const p of e.data.patches) {
            await tx.exec(`DELETE FROM component_patches WHERE component_type = $1 AND from_version = $2 AND to_version = $3`, [
              e.data.componentType,
              p.fromVersion,
              p.toVersion,
            ]);
          }
          break;
        default:
          break;
      }
    }
  },
  async reset(tx: Tx) {
    await tx.exec('TRUNCATE component_versions, component_rejections, component_patches');
  },
};
