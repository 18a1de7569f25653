import pino from 'pino';
import { redactUrl } from '@herald/common';
import { ConfigError, loadConfig, maskLine } from '@herald/platform';
import { DashboardConfig } from './config';
import { createDashboard } from './dashboard-server';
import { upstreamsOf } from './upstreams';

/**
 * The admin dashboard: one web page over the three services' HTTP APIs. A bad setting is one
 * line on stderr and exit code 1, like the services; SIGTERM/SIGINT stop it.
 */
async function main(): Promise<void> {
  const config = loadConfig(DashboardConfig);
  // Every line masked just before it is written: no URL password reaches the log.
  const logger = pino({ name: 'dashboard', level: config.LOG_LEVEL, hooks: { streamWrite: maskLine(config) } });
  const app = await createDashboard(config, logger);
  await app.listen(config.DASHBOARD_PORT, '0.0.0.0');
  logger.info({ port: config.DASHBOARD_PORT, services: Object.fromEntries(upstreamsOf(config).map((u) => [u.service, redactUrl(u.url)])) }, 'dashboard started');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      app.close().then(
        () => process.exit(0),
        (err: Error) => {
          process.stderr.write(`dashboard: shutdown failed: ${err.message}\n`);
          process.exit(1);
        },
      );
    });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`dashboard: ${err instanceof ConfigError ? err.message : `failed to start: ${err.stack}`}\n`);
  process.exit(1);
});
