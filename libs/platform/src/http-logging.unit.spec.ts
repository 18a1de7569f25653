import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestLogLevel } from './http-logging';

const req = (method: string) => ({ method }) as IncomingMessage;
const res = (statusCode: number, headers: Record<string, string> = {}) => ({ statusCode, getHeader: (name: string) => headers[name.toLowerCase()] }) as unknown as ServerResponse;

describe('requestLogLevel', () => {
  it('logs reads at debug, changes at info, refusals at warn and failures at error', () => {
    expect(requestLogLevel(req('GET'), res(200))).toBe('debug');
    expect(requestLogLevel(req('POST'), res(201))).toBe('info');
    expect(requestLogLevel(req('GET'), res(404))).toBe('warn');
    expect(requestLogLevel(req('GET'), res(500), new Error('failed with status code 500'))).toBe('error');
    expect(requestLogLevel(req('GET'), res(503), new Error('failed with status code 503'))).toBe('error');
  });

  it('logs back-pressure (503 with Retry-After) as the request, not as an error', () => {
    expect(requestLogLevel(req('GET'), res(503, { 'retry-after': '1' }), new Error('failed with status code 503'))).toBe('debug');
    expect(requestLogLevel(req('POST'), res(503, { 'retry-after': '5' }), new Error('failed with status code 503'))).toBe('info');
  });
});
