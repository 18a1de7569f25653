import { Module } from '@nestjs/common';
import { ComponentsModule } from '../components.module';
import { ComponentsController } from './components.controller';

/** What admins read: the latest versions, each type's history, the rejections. */
@Module({ imports: [ComponentsModule], controllers: [ComponentsController] })
export class ListComponentsModule {}
