import { Module } from '@nestjs/common';
import { ComponentsModule } from '../components.module';
import { PinControl } from './pin-control';
import { PinsController } from './pins.controller';

/** Admins pin a component type to a kept version (rollback) and unpin it. */
@Module({ imports: [ComponentsModule], controllers: [PinsController], providers: [PinControl] })
export class PinVersionsModule {}
