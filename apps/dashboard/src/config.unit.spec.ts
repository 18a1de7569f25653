import { ConfigError, loadConfig } from '@herald/platform';
import { DashboardConfig } from './config';
import { upstreamsOf } from './upstreams';

describe('dashboard config', () => {
  it('defaults to the services on this machine at their default ports, and serves this machine only', () => {
    const config = loadConfig(DashboardConfig, {});
    expect(config).toEqual({
      DASHBOARD_PORT: 3000,
      HTTP_BIND_ADDRESS: '127.0.0.1',
      COMPONENT_DOWNLOAD_URL: 'http://127.0.0.1:3001',
      NOTIFICATION_DISPATCH_URL: 'http://127.0.0.1:3002',
      AGENT_PRESENCE_URL: 'http://127.0.0.1:3003',
      LOG_LEVEL: 'info',
    });
    expect(upstreamsOf(config).map((u) => [u.prefix, u.service, u.url])).toEqual([
      ['/api/download', 'component-download', 'http://127.0.0.1:3001'],
      ['/api/dispatch', 'notification-dispatch', 'http://127.0.0.1:3002'],
      ['/api/presence', 'agent-presence', 'http://127.0.0.1:3003'],
    ]);
  });

  it('names every bad variable, e.g. a service URL without its scheme', () => {
    const load = () => loadConfig(DashboardConfig, { AGENT_PRESENCE_URL: 'agent-presence:3003', DASHBOARD_PORT: '0' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/DASHBOARD_PORT: .*AGENT_PRESENCE_URL: must be an http:\/\/ or https:\/\/ URL \(got "agent-presence:3003"\)/);
  });

  it('ignores the services’ own settings, so one environment can serve all four processes', () => {
    expect(() => loadConfig(DashboardConfig, { DATABASE_URL: 'postgres://x@db/herald', ADMIN_TOKENS: 'alice:0123456789abcdef' })).not.toThrow();
  });
});
