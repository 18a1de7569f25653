import { DynamicModule, Module } from '@nestjs/common';
import { RuntimeModule, ServiceRuntime } from '@herald/platform';
import type { ComponentDownloadConfig } from './config';
import { BlobStore } from './components/blob-store';
import { ComponentCatalog } from './components/component-catalog';
import { CheckUpstreamController } from './components/check-upstream/check-upstream.controller';
import { ScheduledCheckService } from './components/check-upstream/scheduled-check.service';
import { UpstreamChecker } from './components/check-upstream/upstream-checker';
import { ComponentsController } from './components/list-components/components.controller';
import { DownloadController } from './components/serve-download/download.controller';
import { DownloadSlots } from './components/serve-download/download-slots';
import { PatchMaintainer } from './components/keep-versions/patch-maintainer';
import { ComponentMetrics } from './components/component-metrics';

@Module({})
export class ComponentDownloadModule {
  static forRoot(runtime: ServiceRuntime<ComponentDownloadConfig>, blobs: BlobStore): DynamicModule {
    return {
      module: ComponentDownloadModule,
      imports: [RuntimeModule.forRoot(runtime)],
      controllers: [ComponentsController, CheckUpstreamController, DownloadController],
      providers: [{ provide: BlobStore, useValue: blobs }, ComponentCatalog, UpstreamChecker, ScheduledCheckService, PatchMaintainer, DownloadSlots, ComponentMetrics],
    };
  }
}
