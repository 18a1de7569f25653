import type { ComponentTarget } from '@herald/contracts';
import type { StoredVersion } from './component-catalog';

/** What an agent is told of a kept version: where to download it and how to verify it. */
export function componentTarget(publicBaseUrl: string, v: Pick<StoredVersion, 'componentType' | 'version' | 'sha256' | 'size' | 'statement'>): ComponentTarget {
  return {
    type: v.componentType,
    version: v.version,
    sha256: v.sha256,
    size: v.size,
    url: downloadUrl(publicBaseUrl, v.componentType, v.version),
    ...(v.statement ? { statement: v.statement } : {}),
  };
}

export function downloadUrl(base: string, componentType: string, version: string): string {
  return new URL(`components/${encodeURIComponent(componentType)}/versions/${encodeURIComponent(version)}/download`, base.endsWith('/') ? base : `${base}/`).toString();
}
