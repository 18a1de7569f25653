import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

const StoredVersion = z.object({
  componentType: z.string(),
  version: z.string(),
  sha256: z.string().describe('SHA-256 of the full file, lower-case hex'),
  size: z.number().int(),
  source: z.enum(['full', 'incremental']).describe('How the server got it from upstream'),
  patchedFrom: z.string().nullable().describe('The base version, when rebuilt from an upstream patch'),
  downloadedAt: z.string(),
});

const StoredPatch = z.object({
  componentType: z.string(),
  fromVersion: z.string(),
  toVersion: z.string(),
  sha256: z.string(),
  size: z.number().int(),
  method: z.string().describe('diff (from two full files), composed (joined from two patches) or upstream'),
  format: z.string().describe('herald-delta-1, bsdiff40 or zstd-patch-from (docs/asyncapi.yaml, "Patch formats")'),
  builtAt: z.string(),
});

const Pin = z
  .object({
    version: z.string().describe('The version agents are held on'),
    by: z.string().describe('The admin token that pinned it'),
    reason: z.string().nullable(),
    at: z.string(),
  })
  .nullable()
  .describe('The pin, or null: agents follow the latest version');

export class LatestComponentsDto extends createZodDto(
  z.object({ components: z.array(StoredVersion.extend({ patchesFrom: z.array(z.string()).describe('Versions an agent can patch from'), pinned: Pin })) }),
) {}

const Encoding = z.object({
  coding: z.string().describe('The HTTP content coding: zstd or gzip'),
  sha256: z.string().describe('SHA-256 of the coded file'),
  size: z.number().int().describe('Bytes of the coded file (smaller than the file, or it is not kept)'),
});

export class ComponentVersionsDto extends createZodDto(
  z.object({
    componentType: z.string(),
    versions: z.array(StoredVersion.extend({ encodings: z.array(Encoding).describe('The full file compressed for HTTP content coding, smallest first (docs/downloads.md)') })),
    patches: z.array(StoredPatch),
    pinned: Pin,
  }),
) {}

export class PinViewDto extends createZodDto(z.object({ componentType: z.string(), pinned: Pin, latest: z.string().nullable().describe('The latest kept version') })) {}

export class RejectionsDto extends createZodDto(
  z.object({
    rejections: z.array(
      z.object({
        scope: z.enum(['component', 'manifest']),
        componentType: z.string().nullable(),
        version: z.string().nullable(),
        manifestVersion: z.number().int().nullable(),
        reason: z.string().describe('digest-mismatch, size-mismatch, download-failed, store-unavailable, bad-statement, unsigned, bad-signature, malformed-manifest, rollback, …'),
        detail: z.string(),
        at: z.string(),
      }),
    ),
  }),
) {}

export class FileFaultsDto extends createZodDto(
  z.object({
    faults: z.array(
      z.object({
        componentType: z.string(),
        version: z.string().describe('The full version the file is, or the version the patch leads to'),
        patchFrom: z.string().nullable().describe('With a patch: its base version'),
        sha256: z.string().describe('The digest the file is stored under'),
        fault: z.enum(['missing', 'corrupt']),
        detail: z.string(),
        at: z.string(),
      }),
    ),
  }),
) {}

export class StoreHealthDto extends createZodDto(
  z.object({
    writable: z.boolean().describe('The last probe could write to the store'),
    fault: z.enum(['read-only', 'full', 'permission', 'io', 'missing', 'corrupt']).optional(),
    message: z.string().optional(),
    since: z.string().describe('When the store last became writable or stopped being so'),
    checkedAt: z.string().nullable(),
    freeBytes: z.number().nullable(),
  }),
) {}

export class CheckReportDto extends createZodDto(
  z.object({
    checkedAt: z.string(),
    ran: z.boolean().describe('False when another instance was already checking'),
    manifest: z
      .object({ manifestVersion: z.number().int().nullable(), accepted: z.boolean(), reason: z.string().optional(), detail: z.string().optional() })
      .optional(),
    downloaded: z.array(
      z.object({ componentType: z.string(), version: z.string(), size: z.number().int(), source: z.enum(['full', 'incremental']), patchedFrom: z.string().optional() }),
    ),
    rejected: z.array(z.object({ componentType: z.string(), version: z.string(), reason: z.string(), detail: z.string() })),
    upToDate: z.array(z.string()),
    error: z.string().optional(),
  }),
) {}

export class DownloadSlotsDto extends createZodDto(
  z.object({
    slots: z.number().int().describe('DOWNLOAD_SLOTS of this instance'),
    inUse: z.number().int(),
    peakInUse: z.number().int(),
    served: z.number().int(),
    refused: z.number().int().describe('Requests answered 503 + Retry-After'),
  }),
) {}
