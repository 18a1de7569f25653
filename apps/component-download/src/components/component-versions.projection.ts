import { versionKey } from '@herald/contracts';
import type { Projection, Tx } from '@herald/event-store';
import { FIRST_PATCH_FORMAT, type ComponentEvent } from './component.decider';
import type { UpstreamEvent } from './check-upstream/upstream.decider';

/**
 * Every kept version and patch, every pair whose patch was found not worth keeping, every
 * rejection, every stored file found damaged and every pin, queryable by type; updated with the events.
 * Retired fulls and patches leave the tables, so they list what the server can hand out.
 */
export const componentVersionsProjection: Projection<ComponentEvent | UpstreamEvent> = {
  name: 'component-versions',
  eventTypes: [
    'ComponentVersionDownloaded',
    'ComponentDownloadRejected',
    'ComponentPatchBuilt',
    'ComponentFilesRetired',
    'UpstreamManifestRejected',
    'StoredFileFaulted',
    'ComponentPinned',
    'ComponentUnpinned',
    'ComponentFullEncoded',
    'ComponentPatchNotKept',
  ],
  async apply(tx, events) {
    for (const e of events) {
      switch (e.type) {
        case 'ComponentVersionDownloaded':
          await tx.exec(
            `INSERT INTO component_versions (component_type, version, version_key, sha256, size, source, downloaded_at, patched_from, statement)
             VALUES ($1, $2, $3::integer[], $4, $5, $6, $7, $8, $9::jsonb)
             ON CONFLICT (component_type, version) DO NOTHING`,
            [
              e.data.componentType,
              e.data.version,
              versionKey(e.data.version),
              e.data.sha256,
              e.data.size,
              e.data.source,
              e.data.downloadedAt,
              e.data.patchedFrom ?? null,
              e.data.statement ? JSON.stringify(e.data.statement) : null,
            ],
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
        case 'StoredFileFaulted':
          await tx.exec(`INSERT INTO component_file_faults (component_type, version, patch_from, sha256, fault, detail, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
            e.data.componentType,
            e.data.version,
            e.data.patchFrom,
            e.data.sha256,
            e.data.fault,
            e.data.detail,
            e.data.at,
          ]);
          break;
        case 'ComponentPatchBuilt':
          await tx.exec(
            `INSERT INTO component_patches (component_type, from_version, to_version, from_version_key, to_version_key, sha256, size, method, format, built_at)
             VALUES ($1, $2, $3, $4::integer[], $5::integer[], $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
            [
              e.data.componentType,
              e.data.fromVersion,
              e.data.toVersion,
              versionKey(e.data.fromVersion),
              versionKey(e.data.toVersion),
              e.data.sha256,
              e.data.size,
              e.data.method,
              e.data.format ?? FIRST_PATCH_FORMAT,
              e.data.builtAt,
            ],
          );
          break;
        case 'ComponentFilesRetired':
          if (e.data.fullVersions.length > 0) {
            await tx.exec(`DELETE FROM component_versions WHERE component_type = $1 AND version = ANY($2::text[])`, [e.data.componentType, e.data.fullVersions]);
            await tx.exec(`DELETE FROM component_encodings WHERE component_type = $1 AND version = ANY($2::text[])`, [e.data.componentType, e.data.fullVersions]);
          }
          for (const p of e.data.patches) {
            for (const table of ['component_patches', 'component_patches_not_kept']) {
              await tx.exec(`DELETE FROM ${table} WHERE component_type = $1 AND from_version = $2 AND to_version = $3`, [e.data.componentType, p.fromVersion, p.toVersion]);
            }
          }
          break;
        case 'ComponentPinned':
          await tx.exec(
            `INSERT INTO component_pins (component_type, version, pinned_by, reason, pinned_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (component_type) DO UPDATE SET version = EXCLUDED.version, pinned_by = EXCLUDED.pinned_by, reason = EXCLUDED.reason, pinned_at = EXCLUDED.pinned_at`,
            [e.data.componentType, e.data.version, e.data.by, e.data.reason, e.data.at],
          );
          break;
        case 'ComponentUnpinned':
          await tx.exec(`DELETE FROM component_pins WHERE component_type = $1`, [e.data.componentType]);
          break;
        case 'ComponentFullEncoded':
          // A coding found not smaller than the file is only remembered in the stream.
          if (e.data.sha256 === null) break;
          await tx.exec(
            `INSERT INTO component_encodings (component_type, version, coding, sha256, size, encoded_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
            [e.data.componentType, e.data.version, e.data.coding, e.data.sha256, e.data.size, e.data.at],
          );
          break;
        case 'ComponentPatchNotKept':
          await tx.exec(
            `INSERT INTO component_patches_not_kept (component_type, from_version, to_version, format, size, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
            [e.data.componentType, e.data.fromVersion, e.data.toVersion, e.data.format, e.data.size, e.data.at],
          );
          break;
        default:
          break;
      }
    }
  },
  async reset(tx: Tx) {
    await tx.exec('TRUNCATE component_versions, component_rejections, component_patches, component_file_faults, component_pins, component_encodings, component_patches_not_kept');
  },
};
