import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ComponentType, ComponentVersion } from '@herald/contracts';
import { Public } from '@herald/platform';
import { BlobStore } from '../blob-store';
import { ComponentCatalog } from '../component-catalog';
import { parseParam } from '../params';

/**
 * What agents download. Plain HTTP: Content-Length, an ETag that is the SHA-256, the digest in
 * Repr-Digest (RFC 9530) and X-Herald-Sha256, and Range requests for resuming.
 */
@Controller('components')
export class DownloadController {
  constructor(
    private readonly catalog: ComponentCatalog,
    private readonly blobs: BlobStore,
  ) {}

  /** Open, like a vendor's update server: what an agent downloads it verifies against the digest in its command. */
  @Public()
  @Get(':type/versions/:version/download')
  async download(@Param('type') typeParam: string, @Param('version') versionParam: string, @Res() res: Response): Promise<void> {
    const type = parseParam(ComponentType, 'type', typeParam);
    const version = parseParam(ComponentVersion, 'version', versionParam);
    const stored = await this.catalog.find(type, version);
    if (!stored) throw new NotFoundException(`component ${type} has no version ${version} on this server`);
    res.setHeader('ETag', `"${stored.sha256}"`);
    res.setHeader('Repr-Digest', `sha-256=:${Buffer.from(stored.sha256, 'hex').toString('base64')}:`);
    res.setHeader('X-Herald-Sha256', stored.sha256);
    res.setHeader('X-Herald-Delivery', 'full');
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Disposition', `attachment; filename="${type}-${version}.bin"`);
    await new Promise<void>((resolve, reject) =>
      res.sendFile(this.blobs.pathOf(stored.sha256), { etag: false, lastModified: false, acceptRanges: true, cacheControl: false }, (err) =>
        err && !res.headersSent ? reject(err) : resolve(),
      ),
    );
  }
}
