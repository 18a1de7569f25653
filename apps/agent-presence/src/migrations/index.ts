import { Agents1764230600000 } from './1764230600000-agents';
import { VersionKeys1764500000000 } from './1764500000000-version-keys';
import { AgentIdentities1764800000000 } from './1764800000000-agent-identities';
import { AgentSearch1764900000000 } from './1764900000000-agent-search';
import { AgentLabels1765000000000 } from './1765000000000-agent-labels';
import { AgentPatchFormats1765200000000 } from './1765200000000-agent-patch-formats';

/** Presence's schema, in the order it was built. */
export const PRESENCE_MIGRATIONS = [Agents1764230600000, VersionKeys1764500000000, AgentIdentities1764800000000, AgentSearch1764900000000, AgentLabels1765000000000, AgentPatchFormats1765200000000];
