import { Controller, Get, Header, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { ApiErrors } from '@herald/platform';
import { AgentsBehindDto, type BehindCsvQuery, BehindCsvQueryDto, type BehindQuery, BehindQueryDto, ComplianceDto } from './compliance.dto';
import { ComplianceViews, toCsv } from './compliance-views';

/** Compliance: which agents run older versions than the newest, by how many versions, since when. */
@ApiTags('compliance')
@Controller('compliance')
export class ComplianceController {
  constructor(private readonly views: ComplianceViews) {}

  @Get()
  @ApiOperation({ summary: 'Per component: the newest version, and agents by how many versions behind' })
  @ApiOkResponse({ type: ComplianceDto })
  @ApiErrors()
  async summary() {
    return { generatedAt: new Date().toISOString(), components: await this.views.summary() };
  }

  @Get('agents')
  @ApiOperation({ summary: 'Agents behind, the longest-waiting first' })
  @ApiOkResponse({ type: AgentsBehindDto })
  @ApiErrors(400)
  async agents(@Query() query: BehindQueryDto) {
    const { component, ...page } = query as z.infer<typeof BehindQuery>;
    return this.views.behind({ componentType: component, ...page });
  }

  @Get('agents.csv')
  @Header('Content-Type', 'text/csv; charset=utf-8')
  @Header('Content-Disposition', 'attachment; filename="herald-agents-behind.csv"')
  @ApiOperation({
    summary:
      'The same as CSV (RFC 4180, a header line; formula-like fields escaped), for a spreadsheet: up to 100,000 rows (limit), X-Total-Count says how many there are (page on with offset)',
  })
  @ApiProduces('text/csv')
  @ApiOkResponse({
    description: 'agentId,componentType,installed,latest,versionsBehind,behindSince,online',
    headers: { 'X-Total-Count': { description: 'Rows there are in all, beyond limit and offset', schema: { type: 'integer' } } },
    content: { 'text/csv': { schema: { type: 'string' } } },
  })
  @ApiErrors(400)
  async csv(@Query() query: BehindCsvQueryDto, @Res({ passthrough: true }) res: Response) {
    const { component, ...page } = query as z.infer<typeof BehindCsvQuery>;
    const { total, agents } = await this.views.behind({ componentType: component, ...page });
    res.setHeader('X-Total-Count', String(total));
    return toCsv(agents);
  }
}
