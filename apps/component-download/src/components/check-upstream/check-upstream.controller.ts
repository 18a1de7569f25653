import { Controller, HttpCode, Post } from '@nestjs/common';
import { CheckReport, UpstreamChecker } from './upstream-checker';

@Controller('components')
export class CheckUpstreamController {
  constructor(private readonly checker: UpstreamChecker) {}

  /** "Check for updates now": looks at the upstream manifest and downloads what is new. */
  @Post('check')
  @HttpCode(200)
  check(): Promise<CheckReport> {
    return this.checker.check();
  }
}
