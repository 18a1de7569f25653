import type { Projection, RecordedEvent, Tx } from '@herald/event-store';
import type { ComponentEvent } from './component.decider';

/** Every kept version and every rejection, queryable by type; updated with the events. */
export const componentVersionsProjection: Projection = {
  name: 'component-versions',
  eventTypes: ['ComponentVersionDownloaded', 'ComponentDownloadRejected'],
  async apply(tx: Tx, events: readonly RecordedEvent[]) {
    for (const e of events as readonly RecordedEvent<ComponentEvent>[]) {
      switch (e.type) {
        case 'ComponentVersionDownloaded':
          await tx.exec(
            `INSERT INTO component_versions (component_type, version, version_key, sha256, size, source, downloaded_at)
             VALUES ($1, $2, string_to_array($2, '.')::integer[], $3, $4, $5, $6)
             ON CONFLICT (component_type, version) DO NOTHING`,
            [e.data.componentType, e.data.version, e.data.sha256, e.data.size, e.data.source, e.data.downloadedAt],
          );
          break;
        case 'ComponentDownloadRejected':
          await tx.exec(
            `INSERT INTO component_rejections (component_type, version, reason, detail, at) VALUES ($1, $2, $3, $4, $5)`,
            [e.data.componentType, e.data.version, e.data.reason, e.data.detail, e.data.at],
          );
          break;
      }
    }
  },
  async reset(tx: Tx) {
    await tx.exec('TRUNCATE component_versions, component_rejections');
  },
};
