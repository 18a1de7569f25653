import { Module } from '@nestjs/common';
import { ComponentsModule } from '../components.module';
import { DownloadController } from './download.controller';
import { DownloadMetrics } from './download-metrics';
import { DownloadSlots } from './download-slots';

/** The downloads agents fetch: fulls and patches, resumable, R6 slots. */
@Module({ imports: [ComponentsModule], controllers: [DownloadController], providers: [DownloadSlots, DownloadMetrics] })
export class ServeDownloadModule {}
