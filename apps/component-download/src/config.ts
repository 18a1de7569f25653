import { z } from 'zod';
import { BaseConfig, configFields } from '@herald/platform';

export const ComponentDownloadConfig = BaseConfig.extend({
  COMPONENT_DOWNLOAD_PORT: configFields.port(3001),
  /** The upstream update source's manifest; unset means "no upstream" (checks do nothing). */
  UPSTREAM_MANIFEST_URL: configFields.httpUrl().optional(),
  /** How often to look for new components upstream; 0 turns scheduled checks off. */
  UPSTREAM_CHECK_INTERVAL_MS: z.coerce.number().int().nonnegative().default(3_600_000),
  UPSTREAM_TIMEOUT_MS: configFields.positiveMs(60_000),
  /** Where verified component files are kept (content-addressed); a volume in compose. */
  COMPONENT_STORE_DIR: z.string().min(1).default('./var/components'),
  /** Base URL agents use to reach this service's downloads. */
  PUBLIC_BASE_URL: configFields.httpUrl().default('http://127.0.0.1:3001'),
});
export type ComponentDownloadConfig = z.infer<typeof ComponentDownloadConfig>;
