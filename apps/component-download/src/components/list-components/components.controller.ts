import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { ComponentType } from '@herald/contracts';
import { ComponentCatalog } from '../component-catalog';
import { parseParam } from '../params';

@Controller('components')
export class ComponentsController {
  constructor(private readonly catalog: ComponentCatalog) {}

  /** The latest verified version of every component type. */
  @Get()
  async latest() {
    return { components: await this.catalog.latest() };
  }

  /** Downloads that were refused, newest first, with the reason. */
  @Get('rejections')
  async rejections() {
    return { rejections: await this.catalog.rejections() };
  }

  /** Every kept version of one component type, newest first. */
  @Get(':type/versions')
  async versions(@Param('type') type: string) {
    const versions = await this.catalog.versions(parseParam(ComponentType, 'type', type));
    if (versions.length === 0) throw new NotFoundException(`no versions of component type ${type}`);
    return { componentType: type, versions };
  }
}
