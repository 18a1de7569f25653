import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { Access, CurrentPrincipal, Principal } from './auth';
import { ApiErrors } from './openapi';

class WhoAmIDto extends createZodDto(z.object({ name: z.string(), role: z.enum(['admin', 'read']) })) {}

/** Who the presented token is, so a client (the dashboard) knows before it tries a change. */
@ApiTags('auth')
@Controller('auth')
export class WhoAmIController {
  @Get('whoami')
  @Access('read')
  @ApiOperation({ summary: "The bearer token's name and role" })
  @ApiOkResponse({ type: WhoAmIDto })
  @ApiErrors()
  whoami(@CurrentPrincipal() who: Principal): Principal {
    return who;
  }
}
