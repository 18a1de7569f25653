import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ComponentType } from '@herald/contracts';
import { ApiErrors } from '@herald/platform';
import { ComponentVersionsDto, FileFaultsDto, LatestComponentsDto, RejectionsDto, StoreHealthDto } from '../component.dto';
import { ComponentCatalog } from '../component-catalog';
import { StoreHealth } from '../store-health';
import { parseParam } from '../params';

@ApiTags('components')
@Controller('components')
export class ComponentsController {
  constructor(
    private readonly catalog: ComponentCatalog,
    private readonly storeHealth: StoreHealth,
  ) {}

  /** The latest verified version of every component type, with its date, digest, the patches to it and its pin. */
  @Get()
  @ApiOperation({ summary: 'The latest verified version of every component type' })
  @ApiOkResponse({ type: LatestComponentsDto })
  @ApiErrors()
  async latest() {
    const [latest, pins] = await Promise.all([this.catalog.latest(), this.catalog.pins()]);
    const components = await Promise.all(
      latest.map(async (v) => ({ ...v, patchesFrom: [...new Set((await this.catalog.patches(v.componentType, v.version)).map((p) => p.fromVersion))], pinned: pins.get(v.componentType) ?? null })),
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

  /** Kept files found missing or damaged on disk when an agent asked for them: not served, recorded once each. */
  @Get('file-faults')
  @ApiOperation({ summary: 'Kept files found missing or damaged in the store (not served), newest first' })
  @ApiOkResponse({ type: FileFaultsDto })
  @ApiErrors()
  async fileFaults() {
    return { faults: await this.catalog.fileFaults() };
  }

  /** Whether this instance's component store takes writes, as /health/ready reports it. */
  @Get('store')
  @ApiOperation({ summary: "This instance's component store: writable or the fault, free bytes (tested every STORE_PROBE_INTERVAL_MS)" })
  @ApiOkResponse({ type: StoreHealthDto })
  @ApiErrors()
  store() {
    return this.storeHealth.state;
  }

  /** Every kept full version of one component type, newest first, and the kept patches. */
  @Get(':type/versions')
  @ApiOperation({ summary: 'Every kept full version of one component type, and the kept patches' })
  @ApiOkResponse({ type: ComponentVersionsDto })
  @ApiErrors(400, 404)
  async versions(@Param('type') type: string) {
    const componentType = parseParam(ComponentType, 'type', type);
    const kept = await this.catalog.versions(componentType);
    if (kept.length === 0) throw new NotFoundException(`no versions of component type ${type}`);
    const versions = await Promise.all(kept.map(async (v) => ({ ...v, encodings: await this.catalog.encodings(componentType, v.version) })));
    return { componentType, versions, patches: await this.catalog.patches(componentType), pinned: (await this.catalog.pins()).get(componentType) ?? null };
  }
}
