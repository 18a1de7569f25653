import { ServiceRuntime, runService } from '@herald/platform';
import { BlobStore } from './components/blob-store';
import { componentVersionsProjection } from './components/component-versions.projection';
import { ComponentDownloadConfig } from './config';
import { ComponentVersions1764230500000 } from './migrations/1764230500000-component-versions';
import { PatchesAndRetention1764400000000 } from './migrations/1764400000000-patches-and-retention';
import { VersionKeys1764500000000 } from './migrations/1764500000000-version-keys';
import { ComponentDownloadModule } from './app.module';

let blobs: BlobStore;

void runService({
  name: 'component-download',
  description: 'The upstream update source, downloading and verifying components, the versions kept, and the downloads agents fetch.',
  configSchema: ComponentDownloadConfig,
  port: (config) => config.COMPONENT_DOWNLOAD_PORT,
  async open(config) {
    blobs = new BlobStore(config.COMPONENT_STORE_DIR);
    await blobs.init();
    return ServiceRuntime.open({
      service: 'component-download',
      schema: 'component_download',
      config,
      migrations: [ComponentVersions1764230500000, PatchesAndRetention1764400000000, VersionKeys1764500000000],
      inlineProjections: [componentVersionsProjection],
    });
  },
  module: (runtime) => ComponentDownloadModule.forRoot(runtime, blobs),
});
