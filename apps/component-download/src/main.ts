import { runService } from '@herald/platform';
import { ComponentDownloadModule } from './app.module';
import { ComponentDownloadConfig } from './config';

void runService({
  name: 'component-download',
  description: 'The upstream update source, downloading and verifying components, the versions kept, and the downloads agents fetch.',
  configSchema: ComponentDownloadConfig,
  port: (config) => config.COMPONENT_DOWNLOAD_PORT,
  module: ComponentDownloadModule,
});
