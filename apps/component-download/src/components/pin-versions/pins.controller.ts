import { Body, ConflictException, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { ComponentType, ComponentVersion } from '@herald/contracts';
import { ApiErrors, CurrentPrincipal, type Principal } from '@herald/platform';
import { PinRefusedError } from '../component.decider';
import { PinViewDto } from '../component.dto';
import { parseParam } from '../params';
import { PinControl, type PinView } from './pin-control';

const PinRequest = z.strictObject({
  version: ComponentVersion.describe('A kept version of the type (GET /components/{type}/versions); older than the latest is a rollback'),
  reason: z.string().trim().min(1).max(500).optional().describe('Why, for the record'),
});
class PinRequestDto extends createZodDto(PinRequest) {}

/** Pinning: hold the fleet on one kept version of a component type (rollback), and let it go. */
@ApiTags('components')
@Controller('components')
export class PinsController {
  constructor(private readonly pins: PinControl) {}

  @Get(':type/pin')
  @ApiOperation({ summary: 'Whether the type is pinned, to which version, by whom and why' })
  @ApiOkResponse({ type: PinViewDto })
  @ApiErrors(400)
  get(@Param('type') type: string): Promise<PinView> {
    return this.pins.view(parseParam(ComponentType, 'type', type));
  }

  @Post(':type/pin')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Pin the type to a kept version: every agent on another version is told to go to it (agents above it downgrade), new versions are kept but not rolled out, and retention keeps its file until unpinned. Pinning the pinned version again changes nothing.',
  })
  @ApiOkResponse({ type: PinViewDto })
  @ApiErrors(400, 403, 404, 409)
  async pin(@Param('type') type: string, @Body() body: PinRequestDto, @CurrentPrincipal() who: Principal): Promise<PinView> {
    const { version, reason } = body as z.infer<typeof PinRequest>;
    try {
      return await this.pins.pin(parseParam(ComponentType, 'type', type), version, who.name, reason ?? null);
    } catch (err) {
      if (err instanceof PinRefusedError) throw err.code === 'unknown-type' ? new NotFoundException(err.message) : new ConflictException(err.message);
      throw err;
    }
  }

  @Post(':type/unpin')
  @HttpCode(200)
  @ApiOperation({ summary: 'Remove the pin: agents go to the latest version again. Unpinning an unpinned type changes nothing.' })
  @ApiOkResponse({ type: PinViewDto })
  @ApiErrors(400, 403)
  unpin(@Param('type') type: string, @CurrentPrincipal() who: Principal): Promise<PinView> {
    return this.pins.unpin(parseParam(ComponentType, 'type', type), who.name);
  }
}
