import 'reflect-metadata';
import path from 'node:path';
import type { NextFunction, Request, Response } from 'express';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger as NestPinoLogger } from 'nestjs-pino';
import type { Logger } from 'pino';
import { apiProxy } from './api-proxy';
import { DashboardModule } from './app.module';
import type { DashboardConfig } from './config';
import { upstreamsOf } from './upstreams';

/** The page's files: beside this file in the source tree, copied beside the compiled file by the build. */
export const PUBLIC_DIR = path.join(__dirname, 'public');

/**
 * Everything comes from the dashboard itself: no CDN, no inline script, no framing. The page
 * only ever talks to its own origin (the /api proxy).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  next();
}

/**
 * The dashboard as a Nest application, not yet listening: the static page at `/`, the three
 * services' APIs under `/api/download`, `/api/dispatch` and `/api/presence`, and GET /health.
 */
export async function createDashboard(config: DashboardConfig, logger: Logger): Promise<NestExpressApplication> {
  const upstreams = upstreamsOf(config);
  // No body parsing: request bodies are streamed to the services untouched.
  const app = await NestFactory.create<NestExpressApplication>(DashboardModule.forRoot(upstreams, logger), { bodyParser: false, bufferLogs: true });
  app.useLogger(app.get(NestPinoLogger));
  app.disable('x-powered-by');
  // Registered before Nest adds its routes at init, so these come first in Express's chain.
  app.use(securityHeaders);
  for (const upstream of upstreams) app.use(upstream.prefix, apiProxy(upstream, logger.child({ component: 'proxy' })));
  // no-cache: a browser revalidates (ETag), so a new version of the page is seen at once.
  app.useStaticAssets(PUBLIC_DIR, { index: 'index.html', setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache') });
  return app;
}
