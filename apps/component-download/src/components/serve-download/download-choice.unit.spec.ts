import { BadRequestException } from '@nestjs/common';
import accepts from 'accepts';
import type { Request } from 'express';
import { chooseCoding, choosePatch, parseFormats } from './download.controller';

const patch = (format: string, size: number) => ({ format, size });
/** What Express gives the controller: the request's headers and its Accept-Encoding negotiation. */
const request = (acceptEncoding?: string) => {
  const headers = acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding };
  const negotiator = accepts({ headers } as never);
  return { headers, acceptsEncodings: (...codings: string[]) => negotiator.encodings(codings) } as unknown as Pick<Request, 'headers' | 'acceptsEncodings'>;
};
const stored = [
  { coding: 'zstd', sha256: 'z', size: 600 },
  { coding: 'gzip', sha256: 'g', size: 700 },
];

describe('what a download sends', () => {
  const kept = [patch('zstd-patch-from', 100), patch('bsdiff40', 150), patch('herald-delta-1', 650)];

  it('sends the smallest patch in a format the agent applies', () => {
    expect(choosePatch(kept, ['herald-delta-1', 'bsdiff40', 'zstd-patch-from'], 1000)).toEqual(patch('zstd-patch-from', 100));
    expect(choosePatch(kept, ['bsdiff40', 'herald-delta-1'], 1000)).toEqual(patch('bsdiff40', 150));
    expect(choosePatch(kept, [], 1000)).toBeUndefined();
  });

  it('never sends a patch that is not smaller than the file the agent would get instead', () => {
    expect(choosePatch(kept, ['herald-delta-1'], 1000)).toEqual(patch('herald-delta-1', 650));
    expect(choosePatch(kept, ['herald-delta-1'], 650)).toBeUndefined();
    expect(choosePatch(kept, ['herald-delta-1'], 600)).toBeUndefined();
  });

  it('codes the full file in the smallest coding the request accepts, and only when it asks', () => {
    expect(chooseCoding(request(), stored)).toBeUndefined();
    expect(chooseCoding(request('gzip, deflate'), stored)?.coding).toBe('gzip');
    expect(chooseCoding(request('gzip;q=1, zstd;q=0.1'), stored)?.coding).toBe('zstd');
    expect(chooseCoding(request('*'), stored)?.coding).toBe('zstd');
    expect(chooseCoding(request('*, zstd;q=0'), stored)?.coding).toBe('gzip');
    expect(chooseCoding(request('identity'), stored)).toBeUndefined();
    expect(chooseCoding(request('br'), stored)).toBeUndefined();
    expect(chooseCoding(request('zstd'), [])).toBeUndefined();
  });

  it('reads formats=: absent is herald-delta-1 (agents before 1.3), empty is none, bad names are refused', () => {
    expect(parseFormats(undefined)).toEqual(['herald-delta-1']);
    expect(parseFormats('')).toEqual([]);
    expect(parseFormats('bsdiff40,zstd-patch-from,vcdiff')).toEqual(['bsdiff40', 'zstd-patch-from', 'vcdiff']);
    expect(() => parseFormats('BSDIFF')).toThrow(BadRequestException);
    expect(() => parseFormats(Array(17).fill('bsdiff40').join(','))).toThrow(BadRequestException);
  });
});
