import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ComponentType } from '@herald/contracts';
import { ApiErrors } from '@herald/platform';
import { ComponentVersionsDto, LatestComponentsDto, RejectionsDto } from '../component.dto';
import { ComponentCatalog } from '../component-catalog';
import { parseParam } from '../params';

@ApiTags('components')
@Controller('components')
export class ComponentsController {
  constructor(private readonly catalog: ComponentCatalog) {}

  /** The latest verified version of every component type, with its date, digest and the patches to it. */
  @Get()
  @ApiOperation({ summary: 'The latest verified version of every component type' })
  @ApiOkResponse({ type: LatestComponentsDto })
  @ApiErrors()
  async latest() {
    const latest = await this.catalog.latest();
    const components = await Promise.all(
      latest.map(async (v) => ({ ...v, patchesFrom: (await this.catalog.patches(v.componentType, v.version)).map((p) => p.fromVersion) })),
    );
    return { components };
  }

  /** Downloads and manifests that were refused, newest first, with the reason. */
  @Get('rejections')
  @ApiOperation({ summary: 'Refused downloads and manifests, newest first, with the reason' })
  @ApiOkResponse({ type: RejectionsDto })
  @ApiErrors()
  async rejections() {
    return { rejections: await this.catalog.rejections() };
  }

  /** Every kept full version of one component type, newest first, and the kept patches. */
  @Get(':type/versions')
  @ApiOperation({ summary: 'Every kept full version of one component type, and the kept patches' })
  @ApiOkResponse({ type: ComponentVersionsDto })
  @ApiErrors(400, 404)
  async versions(@Param('type') type: string) {
    const componentType = parseParam(ComponentType, 'type', type);
    const versions = await this.catalog.versions(componentType);
    if (versions.length === 0) throw new NotFoundException(`no versions of component type ${type}`);
    return { componentType, versions, patches: await this.catalog.patches(componentType) };
  }
}
