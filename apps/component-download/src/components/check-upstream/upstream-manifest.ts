import { z } from 'zod';
import { ComponentType, ComponentVersion } from '@herald/contracts';

/** What the upstream update source publishes (docs/upstream-protocol.md). */
export const UpstreamManifest = z.object({
  schemaVersion: z.literal(1),
  publishedAt: z.iso.datetime({ offset: true }),
  components: z.array(
    z.object({
      type: ComponentType,
      version: ComponentVersion,
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      /** Absolute, or relative to the manifest's URL. */
      url: z.string().min(1),
    }),
  ),
});
export type UpstreamManifest = z.infer<typeof UpstreamManifest>;
