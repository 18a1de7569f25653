import { Module } from '@nestjs/common';
import { ComponentsModule } from '../components.module';
import { PatchMaintainer } from './patch-maintainer';

/** R5: the patches to the latest version and the retention of fulls and patches. */
@Module({ imports: [ComponentsModule], providers: [PatchMaintainer], exports: [PatchMaintainer] })
export class KeepVersionsModule {}
