import { BadRequestException, Controller, Get, Inject, NotFoundException, Param, Query, Req, Res } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import type { Logger } from 'pino';
import { CommandHandler } from '@herald/event-store';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { DownloadSlotsDto } from '../component.dto';
import { ComponentType, ComponentVersion, PatchFormatName, compareVersions } from '@herald/contracts';
import { DELTA_FORMAT } from '@herald/delta';
import { ApiErrors, Public, ServiceConfig } from '@herald/platform';
import type { ComponentDownloadConfig } from '../../config';
import { BlobStore } from '../blob-store';
import { ComponentCatalog, type StoredEncoding, type StoredPatch, type StoredVersion } from '../component-catalog';
import { componentDecider, componentStreamId } from '../component.decider';
import { StorageFaultError } from '../storage-faults';
import { StoreHealth } from '../store-health';
import { parseParam } from '../params';
import { DownloadMetrics } from './download-metrics';
import { DownloadSlots } from './download-slots';

const digestHeader = (sha256: string) => `sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`;

const PATCH_EXTENSION: Record<string, string> = { 'herald-delta-1': 'hdelta', bsdiff40: 'bsdiff', 'zstd-patch-from': 'zst' };

/**
 * The patch to send: the smallest (patches come smallest first) in a format the agent applies,
 * and only if it is smaller than the full file it would get otherwise (`fullBytes`: coded or not).
 */
export function choosePatch<P extends { format: string; size: number }>(patches: readonly P[], formats: readonly string[], fullBytes: number): P | undefined {
  return patches.find((p) => formats.includes(p.format) && p.size < fullBytes);
}

/**
 * The stored coded copy to send for Accept-Encoding: the smallest one the agent accepts (q > 0).
 * Only a coding the request names explicitly (or through `*`): without the header, identity,
 * so plain HTTP clients that never asked for compression get the file as it is.
 */
export function chooseCoding(req: Pick<Request, 'headers' | 'acceptsEncodings'>, encodings: StoredEncoding[]): StoredEncoding | undefined {
  if (encodings.length === 0 || !req.headers['accept-encoding']) return undefined;
  return encodings.find((e) => req.acceptsEncodings(e.coding) === e.coding);
}

/** `formats=a,b`: the patch formats an agent applies, in its order. Absent: herald-delta-1, the only one before protocol 1.3. */
export function parseFormats(param: string | undefined): string[] {
  if (param === undefined) return [DELTA_FORMAT];
  const formats = param.split(',').filter((f) => f !== '');
  if (formats.length > 16 || formats.some((f) => !PatchFormatName.safeParse(f).success)) {
    throw new BadRequestException('formats must be at most 16 comma-separated patch format names (lower-case letters, digits, dots and dashes)');
  }
  return formats;
}

/**
 * What agents download (docs/downloads.md). GET …/versions/:version/download[?from=<installed>]
 * answers with the patch from the agent's version when one is kept (X-Herald-Delivery:
 * incremental), otherwise the full file. Plain HTTP: Content-Length, an ETag that is the
 * body's SHA-256, the digest in Repr-Digest (RFC 9530) and X-Herald-Sha256, the full file's in
 * X-Herald-Target-Sha256, and Range requests for resuming. R6: a bounded number of transfers at
 * once (DOWNLOAD_SLOTS); beyond it, 503 with Retry-After. A file is only sent once it is known to
 * be the digest it is stored under (BlobStore.verify): a kept file missing or damaged on disk is
 * answered 410 and recorded (StoredFileFaulted), a damaged patch falls back to the full file, and
 * a store that cannot be read is answered 503 with STORE_RETRY_AFTER_SECONDS.
 */
@ApiTags('downloads')
@Controller('components')
export class DownloadController {
  constructor(
    private readonly catalog: ComponentCatalog,
    private readonly blobs: BlobStore,
    private readonly slots: DownloadSlots,
    private readonly metrics: DownloadMetrics,
    private readonly storeHealth: StoreHealth,
    private readonly commands: CommandHandler,
    @Inject(ServiceConfig) private readonly config: ComponentDownloadConfig,
    log: PinoLogger,
  ) {
    this.log = log.logger.child({ component: 'downloads' });
  }

  private readonly log: Logger;

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
  @ApiQuery({
    name: 'formats',
    required: false,
    description:
      'With `from`: the patch formats the agent applies, comma-separated (herald-delta-1, bsdiff40, zstd-patch-from; names this server does not know are ignored). ' +
      'The smallest kept patch in one of them is sent; none: the full file. Absent: herald-delta-1 (agents before protocol 1.3).',
  })
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
  @ApiResponse({
    status: 410,
    description:
      'The server keeps that version but its file is missing or damaged in its store (body: fault "missing" or "corrupt"); nothing is sent, the fault is recorded (GET /components/file-faults). ' +
      'A damaged patch is not answered 410: the full file is sent instead.',
  })
  @ApiResponse({
    status: 503,
    description:
      'Wait Retry-After seconds (plus jitter) and try again: every download slot is taken, the patch asked for is being built, ' +
      'or the component store cannot be read now (body: fault "io" or "permission", Retry-After: STORE_RETRY_AFTER_SECONDS)',
  })
  async download(
    @Param('type') typeParam: string,
    @Param('version') versionParam: string,
    @Query('from') fromParam: string | undefined,
    @Query('formats') formatsParam: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const type = parseParam(ComponentType, 'type', typeParam);
    const version = parseParam(ComponentVersion, 'version', versionParam);
    const from = fromParam === undefined || fromParam === '' ? undefined : parseParam(ComponentVersion, 'from', fromParam);
    const formats = parseFormats(formatsParam);
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
      const found = await this.catalog.forDownload(type, version, from);
      if (!found) throw new NotFoundException(`component ${type} has no version ${version} on this server`);
      const { version: stored, patches } = found;
      // The full file in the smallest content coding the agent accepts, and the smallest patch in a
      // format it applies, only if that is smaller still.
      const coded = chooseCoding(req, found.encodings);
      const patch = choosePatch(patches, formats, coded?.size ?? stored.size);
      if (from && patches.length === 0 && (await this.patchComing(stored, from))) {
        // Agents hear of a version at once; its patches are built just after. Rather than hand
        // the first wave of a rollout whole files, ask it to come back in a moment.
        release();
        this.metrics.refused.inc();
        res.status(503).setHeader('Retry-After', '1');
        res.json({ statusCode: 503, message: `the patch from ${from} to ${version} is being built; retry after the given seconds` });
        return;
      }
      const checked = await this.fileToSend(stored, patch, coded);
      if ('fault' in checked) {
        release();
        this.refuse(res, type, version, checked.fault);
        return;
      }
      const body = checked.patch ?? checked.coded ?? stored;
      const delivery = checked.patch ? 'incremental' : 'full';
      this.metrics.served.inc({ delivery });
      if (checked.patch) this.metrics.patches.inc({ format: checked.patch.format });
      if (checked.coded) this.metrics.coded.inc({ coding: checked.coded.coding });
      // The answer depends on Accept-Encoding: caches must not hand a coded file to another client.
      res.setHeader('Vary', 'Accept-Encoding');
      if (checked.coded) res.setHeader('Content-Encoding', checked.coded.coding);
      // What went out (a Range request sends part of the file), counted once the response is done.
      res.once('finish', () => this.metrics.bytes.inc({ delivery }, Number(res.getHeader('content-length') ?? 0)));
      res.setHeader('ETag', `"${body.sha256}"`);
      res.setHeader('Repr-Digest', digestHeader(body.sha256));
      res.setHeader('X-Herald-Sha256', body.sha256);
      res.setHeader('X-Herald-Target-Sha256', stored.sha256);
      res.setHeader('X-Herald-Target-Size', String(stored.size));
      res.setHeader('Content-Type', 'application/octet-stream');
      if (checked.patch) {
        res.setHeader('X-Herald-Delivery', 'incremental');
        res.setHeader('X-Herald-Patch-From', checked.patch.fromVersion);
        res.setHeader('X-Herald-Patch-Format', checked.patch.format);
        res.setHeader('Content-Disposition', `attachment; filename="${type}-${from}-${version}.${PATCH_EXTENSION[checked.patch.format] ?? 'patch'}"`);
      } else {
        res.setHeader('X-Herald-Delivery', 'full');
        res.setHeader('Content-Disposition', `attachment; filename="${type}-${version}.bin"`);
      }
      const failed = await new Promise<Error | undefined>((resolve) =>
        res.sendFile(checked.path, { etag: false, lastModified: false, acceptRanges: true, cacheControl: false }, (err?: Error) => resolve(err)),
      );
      if (!failed) return;
      // The agent went away (its own timeout, a restart, a cut connection): nothing is wrong here
      // and nobody is left to answer. Counted; it comes back or gets a resend.
      if ((failed as NodeJS.ErrnoException).code === 'ECONNABORTED') {
        this.metrics.abandoned.inc({ delivery });
        this.log.debug({ componentType: type, version, delivery }, 'the agent went away before the download was done');
        return;
      }
      // The file went away or could not be read after it was checked (a collection, a failing
      // disk). Before the headers, the agent gets a clear answer; after, the transfer is cut and
      // the agent resumes or retries.
      const fault = this.storeHealth.fault('download', failed, `sending ${checked.path}`);
      if (res.headersSent) return;
      if (!fault) throw failed;
      release();
      this.refuse(res, type, version, fault);
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * The file to send and its path, checked against its digest: the patch when it is sound,
   * otherwise the full file (a damaged patch is recorded and the agent gets the full file
   * instead); or the fault that stops the download.
   */
  private async fileToSend(
    stored: StoredVersion,
    patch: StoredPatch | undefined,
    coded: StoredEncoding | undefined,
  ): Promise<{ path: string; patch?: StoredPatch; coded?: StoredEncoding } | { fault: StorageFaultError }> {
    // A damaged patch or coded copy gives way to the next best: the coded full file, the file itself.
    for (const [file, what] of [
      [patch, { patch }],
      [coded && { ...coded, version: stored.version }, { coded }],
    ] as const) {
      if (!file) continue;
      const checked = await this.check(stored.componentType, file);
      if (!(checked instanceof StorageFaultError)) return { path: checked, ...what };
      if (checked.kind !== 'missing' && checked.kind !== 'corrupt') return { fault: checked };
    }
    const checked = await this.check(stored.componentType, stored);
    return checked instanceof StorageFaultError ? { fault: checked } : { path: checked };
  }

  /** The path of a kept file fit to send, or its fault: counted, and recorded when the file itself is missing or damaged. */
  private async check(componentType: string, file: StoredVersion | StoredPatch | (StoredEncoding & { version: string })): Promise<string | StorageFaultError> {
    try {
      return await this.blobs.verify(file.sha256, file.size);
    } catch (err) {
      const isPatch = 'fromVersion' in file;
      const what = isPatch
        ? `the patch ${file.fromVersion}→${file.toVersion} of ${componentType}`
        : 'coding' in file
          ? `${componentType} ${file.version} (${file.coding})`
          : `${componentType} ${file.version}`;
      const fault = this.storeHealth.fault('download', err, `reading ${what}`);
      if (!fault) throw err;
      if (fault.kind === 'missing' || fault.kind === 'corrupt') {
        this.log.error({ componentType, sha256: file.sha256, fault: fault.kind, err: fault.message }, `${what} is ${fault.kind === 'missing' ? 'missing from' : 'damaged in'} the store: not served`);
        await this.commands
          .handle(componentDecider, componentStreamId(componentType), {
            type: 'RecordStoredFileFault',
            componentType,
            sha256: file.sha256,
            fault: fault.kind,
            version: isPatch ? file.toVersion : file.version,
            patchFrom: isPatch ? file.fromVersion : null,
            detail: fault.message,
            now: new Date(),
          })
          .catch((e: Error) => this.log.warn({ err: e.message }, 'could not record a stored-file fault'));
      }
      return fault;
    }
  }

  /** 410 for a kept file missing or damaged (it will not come back by waiting); 503 + Retry-After when the store cannot be read now. */
  private refuse(res: Response, type: string, version: string, fault: StorageFaultError): void {
    if (fault.kind === 'missing' || fault.kind === 'corrupt') {
      res.status(410).json({
        statusCode: 410,
        error: 'Gone',
        fault: fault.kind,
        message: `the file of ${type} ${version} is ${fault.kind === 'missing' ? 'missing from' : 'damaged in'} this server's store; it is not served (recorded for the operators)`,
      });
      return;
    }
    res.status(503).setHeader('Retry-After', String(this.config.STORE_RETRY_AFTER_SECONDS));
    res.json({ statusCode: 503, error: 'Service Unavailable', fault: fault.kind, message: `the component store cannot be read now (${fault.kind}); retry after the given seconds` });
  }

  /**
   * Whether a patch from `from` to this version should exist in a moment: the version is the
   * latest and was kept less than PATCH_WAIT_MS ago, the full file of `from` is held, so the
   * background pass (PatchMaintainer) builds it, and the pass has not built it already and found
   * it not smaller than the file (incompressible files: then no patch is coming, and waiting out
   * PATCH_WAIT_MS would only hold the agent up). The pass builds every format of a pair in one
   * go, so one format found not worth keeping means the others are decided within moments.
   */
  private async patchComing(stored: StoredVersion, from: string): Promise<boolean> {
    if (compareVersions(from, stored.version) >= 0 || Date.now() - stored.downloadedAt.getTime() >= this.config.PATCH_WAIT_MS) return false;
    const latest = (await this.catalog.latest()).find((v) => v.componentType === stored.componentType);
    if (latest?.version !== stored.version) return false;
    if ((await this.catalog.find(stored.componentType, from)) === undefined) return false;
    return !(await this.catalog.patchNotKept(stored.componentType, from, stored.version));
  }
}

