import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestHandler } from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { Logger } from 'pino';
import type { Upstream } from './upstreams';

/**
 * Longer than component-download's own upstream timeout (60 s by default): "check for updates
 * now" answers only once the new files are downloaded and verified.
 */
const PROXY_TIMEOUT_MS = 120_000;

/**
 * Passes `/api/<prefix>/*` on to one service, unchanged: method, body, query and the
 * `Authorization` header go through as they came, so each service decides on the token itself
 * and the dashboard holds no credentials of its own. Mounted under the prefix, which Express
 * strips from the path before the proxy sees it.
 */
export function apiProxy(upstream: Upstream, log: Logger): RequestHandler {
  return createProxyMiddleware<IncomingMessage, ServerResponse>({
    target: upstream.url,
    changeOrigin: true,
    xfwd: true,
    proxyTimeout: PROXY_TIMEOUT_MS,
    on: {
      proxyRes: (proxyRes, req) => {
        // Admin changes are worth a line; the page's polling every second or two is not.
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          log.info({ service: upstream.service, method: req.method, path: req.url, status: proxyRes.statusCode }, 'admin request passed on');
        }
      },
      error: (err, req, res) => {
        log.warn({ service: upstream.service, method: req.method, path: req.url, err: err.message }, 'service did not answer');
        answerUnreachable(res, upstream.service, err);
      },
    },
  }) as RequestHandler;
}

/** A JSON 502 the page can show as "<service> is not answering". */
function answerUnreachable(res: ServerResponse | Socket, service: string, err: Error & { code?: string }): void {
  if (!('writeHead' in res) || res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(502, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ statusCode: 502, message: `${service} is not answering (${err.code ?? err.message})` }));
}
