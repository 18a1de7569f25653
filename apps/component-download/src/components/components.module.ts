import { Module } from '@nestjs/common';
import { ServiceConfig } from '@herald/platform';
import type { ComponentDownloadConfig } from '../config';
import { BlobStore } from './blob-store';
import { ComponentCatalog } from './component-catalog';
import { ComponentMetrics } from './component-metrics';
import { storageFaultKind } from './storage-faults';
import { StoreHealth, StoreReadiness } from './store-health';

/**
 * What every use case of components shares: the content-addressed store and its health, the
 * catalog read model, the metrics.
 */
@Module({
  providers: [
    {
      provide: BlobStore,
      inject: [ServiceConfig],
      useFactory: async (config: ComponentDownloadConfig) => {
        const blobs = new BlobStore(config.COMPONENT_STORE_DIR);
        // A store that cannot be written (read-only, full) does not stop the service starting: it
        // serves what it holds, and StoreHealth's first probe reports the fault and retries init.
        await blobs.init().catch((err: unknown) => {
          if (!storageFaultKind(err)) throw err;
        });
        return blobs;
      },
    },
    ComponentCatalog,
    ComponentMetrics,
    StoreHealth,
    StoreReadiness,
  ],
  exports: [BlobStore, ComponentCatalog, ComponentMetrics, StoreHealth],
})
export class ComponentsModule {}
