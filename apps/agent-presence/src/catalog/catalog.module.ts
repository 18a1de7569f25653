import { Module } from '@nestjs/common';
import { ComponentCatalogController } from './component-catalog.controller';

/** The latest version of each component type, as component-download announces them. */
@Module({ controllers: [ComponentCatalogController] })
export class CatalogModule {}
