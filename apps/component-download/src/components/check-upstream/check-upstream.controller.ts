import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '@herald/platform';
import { CheckReportDto } from '../component.dto';
import { CheckReport, UpstreamChecker } from './upstream-checker';

@ApiTags('components')
@Controller('components')
export class CheckUpstreamController {
  constructor(private readonly checker: UpstreamChecker) {}

  /** "Check for updates now": looks at the upstream manifest and downloads what is new. */
  @Post('check')
  @HttpCode(200)
  @ApiOperation({ summary: 'Check the upstream now; answers when every new version is kept or refused' })
  @ApiOkResponse({ type: CheckReportDto })
  @ApiErrors(403)
  check(): Promise<CheckReport> {
    return this.checker.check();
  }
}
