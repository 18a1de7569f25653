import { z } from 'zod';
import { BaseConfig, configFields } from '@herald/platform';

/**
 * The dashboard's settings. It has no database and no broker: it serves the page and passes
 * the page's API calls on to the three services, so all it needs is where they are.
 */
export const DashboardConfig = z.object({
  DASHBOARD_PORT: configFields.port(3000),
  /** Where the page is served: this host only by default (0.0.0.0 in a container, whose published port decides). */
  HTTP_BIND_ADDRESS: BaseConfig.shape.HTTP_BIND_ADDRESS,
  COMPONENT_DOWNLOAD_URL: configFields.httpUrl().default('http://127.0.0.1:3001'),
  NOTIFICATION_DISPATCH_URL: configFields.httpUrl().default('http://127.0.0.1:3002'),
  AGENT_PRESENCE_URL: configFields.httpUrl().default('http://127.0.0.1:3003'),
  LOG_LEVEL: BaseConfig.shape.LOG_LEVEL,
});
export type DashboardConfig = z.infer<typeof DashboardConfig>;
