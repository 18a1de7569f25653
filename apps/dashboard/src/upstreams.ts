import type { DashboardConfig } from './config';

/** A Herald service the page reads from, and the path prefix its API is passed on under. */
export interface Upstream {
  service: 'component-download' | 'notification-dispatch' | 'agent-presence';
  /** `/api/<prefix>/x` on the dashboard is `<url>/x` on the service. */
  prefix: string;
  url: string;
}

export function upstreamsOf(config: DashboardConfig): Upstream[] {
  return [
    { service: 'component-download', prefix: '/api/download', url: config.COMPONENT_DOWNLOAD_URL },
    { service: 'notification-dispatch', prefix: '/api/dispatch', url: config.NOTIFICATION_DISPATCH_URL },
    { service: 'agent-presence', prefix: '/api/presence', url: config.AGENT_PRESENCE_URL },
  ];
}
