import { z } from 'zod';
import { SERVED_PATCH_FORMATS, parsePublicKey } from '@herald/contracts';
import { BaseConfig, configFields } from '@herald/platform';

/** Every setting is documented in docs/component-download.md. */
export const ComponentDownloadConfig = BaseConfig.extend({
  COMPONENT_DOWNLOAD_PORT: configFields.port(3001),
  /** The upstream update source's signed manifest; unset means "no upstream" (checks do nothing). */
  UPSTREAM_MANIFEST_URL: configFields.httpUrl().optional(),
  /**
   * The upstream's Ed25519 public key (PEM, or base64 of the 32 raw bytes). Manifests not
   * signed with it are refused. Required with UPSTREAM_MANIFEST_URL.
   */
  UPSTREAM_PUBLIC_KEY: z
    .string()
    .optional()
    .refine(
      (v) => {
        if (v === undefined) return true;
        try {
          parsePublicKey(v);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'not an Ed25519 public key (PEM, or base64 of the 32 raw bytes)' },
    ),
  /** How often to look for new components upstream; 0 turns scheduled checks off. Default hourly. */
  UPSTREAM_CHECK_INTERVAL_MS: z.coerce.number().int().nonnegative().default(3_600_000),
  UPSTREAM_TIMEOUT_MS: configFields.positiveMs(60_000),
  /** Tries per file within one check when the connection breaks; each resumes where the last stopped. */
  UPSTREAM_DOWNLOAD_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  /** Where verified component files and patches are kept (content-addressed); a volume in compose. */
  COMPONENT_STORE_DIR: z.string().min(1).default('./var/components'),
  /** Base URL agents use to reach this service's downloads. */
  PUBLIC_BASE_URL: configFields.httpUrl().default('http://127.0.0.1:3001'),
  /** R5: full versions kept per component type. */
  KEEP_FULL_VERSIONS: z.coerce.number().int().min(1).max(1000).default(7),
  /** R5: versions before the latest that an agent can patch from. */
  PATCH_WINDOW: z.coerce.number().int().min(0).max(1000).default(14),
  /**
   * The patch formats built for each pair, comma-separated: herald-delta-1 (always built: composed
   * patches and upstream patches are in it), bsdiff40, zstd-patch-from. Agents get the smallest kept
   * one they apply. A format takes CPU and disk per pair; drop one no agent of the fleet declares.
   */
  PATCH_FORMATS: z
    .string()
    .default('herald-delta-1,bsdiff40,zstd-patch-from')
    .transform((v) => [...new Set(['herald-delta-1', ...v.split(',').map((f) => f.trim()).filter((f) => f !== '')])])
    .pipe(z.array(z.enum(SERVED_PATCH_FORMATS))),
  /** R6: downloads served at once by one instance; more callers get 503 with Retry-After. */
  DOWNLOAD_SLOTS: z.coerce.number().int().min(1).max(100_000).default(50),
  /** R6: the Retry-After (seconds) sent with a 503 when every slot is taken. */
  DOWNLOAD_RETRY_AFTER_SECONDS: z.coerce.number().int().min(0).max(3600).default(5),
  /**
   * For this long after a version is kept, an agent asking for a patch to it that is not built yet
   * gets 503 + Retry-After: 1 instead of the full file (patches are built just after the version
   * is announced); after it, the full file. 0 turns the wait off.
   */
  PATCH_WAIT_MS: z.coerce.number().int().min(0).max(3_600_000).default(60_000),
  /**
   * How often the component store is tested for writes (a small file written and removed); while
   * it fails, /health/ready is down with the reason. A fault seen by a check or a download tests
   * it at once; the next successful test marks it back up.
   */
  STORE_PROBE_INTERVAL_MS: configFields.positiveMs(10_000),
  /** The Retry-After (seconds) sent with a 503 when the store cannot be read (I/O error, permission). */
  STORE_RETRY_AFTER_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
}).refine((c) => !c.UPSTREAM_MANIFEST_URL || c.UPSTREAM_PUBLIC_KEY, {
  message: 'UPSTREAM_PUBLIC_KEY is required with UPSTREAM_MANIFEST_URL (unsigned manifests are never trusted)',
  path: ['UPSTREAM_PUBLIC_KEY'],
});
export type ComponentDownloadConfig = z.infer<typeof ComponentDownloadConfig>;
