import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LevelWithSilent } from 'pino';
import type { Options } from 'pino-http';

/**
 * How a service logs its HTTP requests (pino-http, through nestjs-pino), one line per request:
 * - an error answer (5xx, or a request that failed) at `error`, a refused one (4xx) at `warn`;
 *   a 503 with Retry-After (back-pressure) as the request would be otherwise;
 * - a successful change (POST, PUT, PATCH, DELETE) at `info`: who changed what is worth a line;
 * - a successful read (GET, HEAD, OPTIONS) at `debug`: the dashboard polls several endpoints
 *   every second or two per open tab, which at `info` made hundreds of MB of log a day;
 * - probes (/health, /metrics) not at all.
 * A line names the request by id, method and URL and the answer by status: never the headers,
 * which carry bearer tokens and cookies (and made each line about 1 KB).
 */
export function httpLogOptions(): Pick<Options, 'autoLogging' | 'customLogLevel' | 'serializers'> {
  return {
    autoLogging: { ignore: (req) => /^\/(health|metrics)\b/.test(req.url ?? '') },
    customLogLevel: requestLogLevel,
    serializers: {
      // Given pino-http's serialized request and response (pino-std-serializers): keep three fields and one.
      req: (req: { id?: unknown; method?: string; url?: string }) => ({ id: req.id, method: req.method, url: req.url }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
  };
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The level of a request's log line: see httpLogOptions. */
export function requestLogLevel(req: IncomingMessage, res: ServerResponse, err?: Error): LevelWithSilent {
  // 503 with Retry-After is back-pressure the client waits out (every download slot taken, a
  // patch being built, PostgreSQL restarting): logged like the request itself, not as an error
  // (a fleet asking at once made hundreds of error lines with stacks). pino-http makes an `err`
  // for every 5xx, so this comes first.
  if (res.statusCode === 503 && res.getHeader('retry-after') !== undefined) return READS.has(req.method ?? '') ? 'debug' : 'info';
  if (err || res.statusCode >= 500) return 'error';
  if (res.statusCode >= 400) return 'warn';
  return READS.has(req.method ?? '') ? 'debug' : 'info';
}
