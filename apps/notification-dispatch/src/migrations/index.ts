import { Dispatch1764230700000 } from './1764230700000-dispatch';
import { InFlight1764230800000 } from './1764230800000-in-flight';
import { RolloutProgress1764230900000 } from './1764230900000-rollout-progress';
import { InFlightWaiting1764231000000 } from './1764231000000-in-flight-waiting';
import { VersionKeys1764500000000 } from './1764500000000-version-keys';
import { HotPath1764600000000 } from './1764600000000-hot-path';
import { RolloutOutcomes1764700000000 } from './1764700000000-rollout-outcomes';
import { RolloutAttribution1764800000000 } from './1764800000000-rollout-attribution';
import { RolloutControl1764900000000 } from './1764900000000-rollout-control';
import { DirectoryHostname1764950000000 } from './1764950000000-directory-hostname';
import { OrphanedSends1764960000000 } from './1764960000000-orphaned-sends';
import { DirectoryLabels1765000000000 } from './1765000000000-directory-labels';
import { Canary1765000001000 } from './1765000001000-canary';
import { Pins1765100000000 } from './1765100000000-pins';
import { Webhooks1765100001000 } from './1765100001000-webhooks';
import { RolloutTimes1765100002000 } from './1765100002000-rollout-times';

/** Dispatch's schema, in the order it was built. */
export const DISPATCH_MIGRATIONS = [Dispatch1764230700000, InFlight1764230800000, RolloutProgress1764230900000, InFlightWaiting1764231000000, VersionKeys1764500000000, HotPath1764600000000, RolloutOutcomes1764700000000, RolloutAttribution1764800000000, RolloutControl1764900000000, DirectoryHostname1764950000000, OrphanedSends1764960000000, DirectoryLabels1765000000000, Canary1765000001000, Pins1765100000000, Webhooks1765100001000, RolloutTimes1765100002000];
