import { Module } from '@nestjs/common';
import { HeraldServiceModule } from '@herald/platform';
import { CheckUpstreamModule } from './components/check-upstream/check-upstream.module';
import { componentVersionsProjection } from './components/component-versions.projection';
import { KeepVersionsModule } from './components/keep-versions/keep-versions.module';
import { ListComponentsModule } from './components/list-components/list-components.module';
import { PinVersionsModule } from './components/pin-versions/pin-versions.module';
import { ServeDownloadModule } from './components/serve-download/serve-download.module';
import { ComponentVersions1764230500000 } from './migrations/1764230500000-component-versions';
import { PatchesAndRetention1764400000000 } from './migrations/1764400000000-patches-and-retention';
import { VersionKeys1764500000000 } from './migrations/1764500000000-version-keys';
import { StoredFileFaults1764600000000 } from './migrations/1764600000000-stored-file-faults';
import { SignedStatements1764600001000 } from './migrations/1764600001000-signed-statements';
import { ComponentPins1765100000000 } from './migrations/1765100000000-component-pins';
import { PatchFormats1765200000000 } from './migrations/1765200000000-patch-formats';
import { FullEncodings1765200001000 } from './migrations/1765200001000-full-encodings';
import { PatchesNotKept1765300000000 } from './migrations/1765300000000-patches-not-kept';

@Module({
  imports: [
    HeraldServiceModule.forRoot({
      service: 'component-download',
      schema: 'component_download',
      migrations: [ComponentVersions1764230500000, PatchesAndRetention1764400000000, VersionKeys1764500000000, StoredFileFaults1764600000000, SignedStatements1764600001000, ComponentPins1765100000000, PatchFormats1765200000000, FullEncodings1765200001000, PatchesNotKept1765300000000],
      inlineProjections: [componentVersionsProjection],
    }),
    CheckUpstreamModule,
    KeepVersionsModule,
    ServeDownloadModule,
    ListComponentsModule,
    PinVersionsModule,
  ],
})
export class ComponentDownloadModule {}
