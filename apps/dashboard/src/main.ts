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
  const running: { app?: Awaited<ReturnType<typeof createDashboard>> } = {};
  // From the first moment, so a stop while starting is a clean exit (code 0) too; a repeated
  // signal (npm start's supervisor passes on the one the terminal sent) does not cut the stop short.
  let signalled = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (signalled) return;
      signalled = true;
      if (!running.app) process.exit(0);
      running.app.close().then(
        () => process.exit(0),
        (err: Error) => {
          process.stderr.write(`dashboard: shutdown failed: ${err.message}\n`);
          process.exit(1);
        },
      );
    });
  }
  const config = loadConfig(DashboardConfig);
  // Every line masked just before it is written: no URL password reaches the log.
  const logger = pino({ name: 'dashboard', level: config.LOG_LEVEL, hooks: { streamWrite: maskLine(config) } });
  const created = await createDashboard(config, logger);
  await created.listen(config.DASHBOARD_PORT, config.HTTP_BIND_ADDRESS);
  running.app = created;
  logger.info({ port: config.DASHBOARD_PORT, address: config.HTTP_BIND_ADDRESS, services: Object.fromEntries(upstreamsOf(config).map((u) => [u.service, redactUrl(u.url)])) }, 'dashboard started');
}

main().catch((err: Error) => {
  process.stderr.write(`dashboard: ${err instanceof ConfigError ? err.message : `failed to start: ${err.stack}`}\n`);
  process.exit(1);
});
