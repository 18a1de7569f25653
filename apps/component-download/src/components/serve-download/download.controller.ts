import { Controller, Get, Inject, NotFoundException, Param, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { DownloadSlotsDto } from '../component.dto';
import { ComponentType, ComponentVersion, compareVersions } from '@herald/contracts';
import { DELTA_FORMAT } from '@herald/delta';
import { ApiErrors, Public, ServiceConfig } from '@herald/platform';
import type { ComponentDownloadConfig } from '../../config';
import { BlobStore } from '../blob-store';
import { ComponentCatalog, type StoredVersion } from '../component-catalog';
import { parseParam } from '../params';
import { DownloadMetrics } from './download-metrics';
import { DownloadSlots } from './download-slots';

const digestHeader = (sha256: string) => `sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`;

/**
 * What agents download (docs/downloads.md). GET …/versions/:version/download[?from=<installed>]
 * answers with the patch from the agent's version when one is kept (X-Herald-Delivery:
 * incremental), otherwise the full file. Plain HTTP: Content-Length, an ETag that is the
 * body's SHA-256, the digest in Repr-Digest (RFC 9530) and X-Herald-Sha256, the full file's in
 * X-Herald-Target-Sha256, and Range requests for resuming. R6: a bounded number of transfers at
 * once (DOWNLOAD_SLOTS); beyond it, 503 with Retry-After.
 */
@ApiTags('downloads')
@Controller('components')
export class DownloadController {
  constructor(
    private readonly catalog: ComponentCatalog,
    private readonly blobs: BlobStore,
    private readonly slots: DownloadSlots,
    private readonly metrics: DownloadMetrics,
    @Inject(ServiceConfig) private readonly config: ComponentDownloadConfig,
  ) {}

  /** How busy the download endpoint is (this instance). */
  @Get('downloads')
  @ApiOperation({ summary: 'How busy the download endpoint of this instance is (R6 slots)' })
  @ApiOkResponse({ type: DownloadSlotsDto })
  @ApiErrors()
  stats() {
    return this.slots.stats();
  }

  /** Open, like a vendor's update server: what an agent downloads it verifies against the digest in its command. */
  @Public()
  @Get(':type/versions/:version/download')
  @ApiOperation({ summary: 'The file an agent applies: a patch from its version when one is kept, otherwise the full file (docs/downloads.md)' })
  @ApiQuery({ name: 'from', required: false, description: 'The version the agent has installed; asks for a patch' })
  @ApiProduces('application/octet-stream')
  @ApiResponse({
    status: 200,
    description:
      'The patch (X-Herald-Delivery: incremental, X-Herald-Patch-From, X-Herald-Patch-Format) or the full file (X-Herald-Delivery: full). ' +
      'X-Herald-Sha256 / Repr-Digest / ETag: the body; X-Herald-Target-Sha256: the full file the agent must end with.',
    content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
  })
  @ApiResponse({ status: 206, description: 'Part of the body, for a Range request (resuming)' })
  @ApiResponse({ status: 400, description: 'Bad type, version or from' })
  @ApiResponse({ status: 404, description: 'No such version on this server' })
  @ApiResponse({ status: 503, description: 'Every download slot is taken, or the patch asked for is being built: wait Retry-After seconds (plus jitter) and try again' })
  async download(
    @Param('type') typeParam: string,
    @Param('version') versionParam: string,
    @Query('from') fromParam: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    const type = parseParam(ComponentType, 'type', typeParam);
    const version = parseParam(ComponentVersion, 'version', versionParam);
    const from = fromParam === undefined || fromParam === '' ? undefined : parseParam(ComponentVersion, 'from', fromParam);
    const release = this.slots.tryAcquire();
    if (!release) {
      this.metrics.refused.inc();
      res.status(503).setHeader('Retry-After', String(this.config.DOWNLOAD_RETRY_AFTER_SECONDS));
      res.json({ statusCode: 503, message: 'all download slots are taken; retry after the given seconds' });
      return;
    }
    // The slot is held until the response is finished or the agent goes away.
    res.once('close', release);
    try {
      const stored = await this.catalog.find(type, version);
      if (!stored) throw new NotFoundException(`component ${type} has no version ${version} on this server`);
      const patch = from ? await this.catalog.findPatch(type, from, version) : undefined;
      if (from && !patch && (await this.patchComing(stored, from))) {
        // Agents hear of a version at once; its patches are built just after. Rather than hand
        // the first wave of a rollout whole files, ask it to come back in a moment.
        release();
        this.metrics.refused.inc();
        res.status(503).setHeader('Retry-After', '1');
        res.json({ statusCode: 503, message: `the patch from ${from} to ${version} is being built; retry after the given seconds` });
        return;
      }
      const body = patch ?? stored;
      const delivery = patch ? 'incremental' : 'full';
      this.metrics.served.inc({ delivery });
      // What went out (a Range request sends part of the file), counted once the response is done.
      res.once('finish', () => this.metrics.bytes.inc({ delivery }, Number(res.getHeader('content-length') ?? 0)));
      res.setHeader('ETag', `"${body.sha256}"`);
      res.setHeader('Repr-Digest', digestHeader(body.sha256));
      res.setHeader('X-Herald-Sha256', body.sha256);
      res.setHeader('X-Herald-Target-Sha256', stored.sha256);
      res.setHeader('X-Herald-Target-Size', String(stored.size));
      res.setHeader('Content-Type', 'application/octet-stream');
      if (patch) {
        res.setHeader('X-Herald-Delivery', 'incremental');
        res.setHeader('X-Herald-Patch-From', patch.fromVersion);
        res.setHeader('X-Herald-Patch-Format', DELTA_FORMAT);
        res.setHeader('Content-Disposition', `attachment; filename="${type}-${from}-${version}.hdelta"`);
      } else {
        res.setHeader('X-Herald-Delivery', 'full');
        res.setHeader('Content-Disposition', `attachment; filename="${type}-${version}.bin"`);
      }
      await new Promise<void>((resolve, reject) =>
        res.sendFile(this.blobs.pathOf(body.sha256), { etag: false, lastModified: false, acceptRanges: true, cacheControl: false }, (err) =>
          err && !res.headersSent ? reject(err) : resolve(),
        ),
      );
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * Whether a patch from `from` to this version should exist in a moment: the version is the
   * latest and was kept less than PATCH_WAIT_MS ago, and the full file of `from` is held, so the
   * background pass (PatchMaintainer) builds it.
   */
  private async patchComing(stored: StoredVersion, from: string): Promise<boolean> {
    if (compareVersions(from, stored.version) >= 0 || Date.now() - stored.downloadedAt.getTime() >= this.config.PATCH_WAIT_MS) return false;
    const latest = (await this.catalog.latest()).find((v) => v.componentType === stored.componentType);
    if (latest?.version !== stored.version) return false;
    return (await this.catalog.find(stored.componentType, from)) !== undefined;
  }
}

