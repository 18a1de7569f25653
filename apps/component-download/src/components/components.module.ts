import { Module } from '@nestjs/common';
import { ServiceConfig } from '@herald/platform';
import type { ComponentDownloadConfig } from '../config';
import { BlobStore } from './blob-store';
import { ComponentCatalog } from './component-catalog';
import { ComponentMetrics } from './component-metrics';

/** What every use case of components shares: the content-addressed store, the catalog read model, the metrics. */
@Module({
  providers: [
    {
      provide: BlobStore,
      inject: [ServiceConfig],
      useFactory: async (config: ComponentDownloadConfig) => {
        const blobs = new BlobStore(config.COMPONENT_STORE_DIR);
        await blobs.init();
        return blobs;
      },
    },
    ComponentCatalog,
    ComponentMetrics,
  ],
  exports: [BlobStore, ComponentCatalog, ComponentMetrics],
})
export class ComponentsModule {}
