import { createHash, timingSafeEqual } from 'node:crypto';
import { CanActivate, ExecutionContext, ForbiddenException, Injectable, SetMetadata, UnauthorizedException, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ServiceConfig, type TokenList } from './config';

/** Who may call an endpoint: anyone, a read-only or admin token, or an admin token only. */
export type AccessLevel = 'public' | 'read' | 'admin';

const ACCESS = 'herald:access';

/**
 * Sets an endpoint's access level. Without it: GET and HEAD need a read (or admin) token,
 * everything else an admin token.
 */
export const Access = (level: AccessLevel) => SetMetadata(ACCESS, level);
/** Open to anyone: health, metrics (unless METRICS_TOKEN), API docs, agent downloads. */
export const Public = () => Access('public');

export interface Principal {
  name: string;
  role: 'admin' | 'read';
}

/** The authenticated caller, for the audit trail ("by" in settings and privilege events). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => {
  return (ctx.switchToHttp().getRequest<Request & { principal?: Principal }>().principal ?? { name: 'anonymous', role: 'read' });
});

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Checks `Authorization: Bearer <token>` against ADMIN_TOKENS and READ_TOKENS, in constant time. */
@Injectable()
export class TokenGuard implements CanActivate {
  private readonly known: Array<{ name: string; role: 'admin' | 'read'; digest: Buffer }>;

  constructor(
    private readonly reflector: Reflector,
    config: ServiceConfig,
  ) {
    const entries = (list: TokenList, role: 'admin' | 'read') => list.map((t) => ({ name: t.name, role, digest: digest(t.token) }));
    this.known = [...entries(config.ADMIN_TOKENS, 'admin'), ...entries(config.READ_TOKENS, 'read')];
  }

  canActivate(ctx: ExecutionContext): boolean {
    if (ctx.getType() !== 'http') return true;
    const request = ctx.switchToHttp().getRequest<Request & { principal?: Principal }>();
    const level =
      this.reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS, [ctx.getHandler(), ctx.getClass()]) ??
      (request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'admin');
    if (level === 'public') return true;
    const principal = this.identify(request.headers.authorization);
    if (!principal) {
      ctx.switchToHttp().getResponse().setHeader('WWW-Authenticate', 'Bearer realm="herald"');
      throw new UnauthorizedException('a valid bearer token is required (Authorization: Bearer <token>)');
    }
    if (level === 'admin' && principal.role !== 'admin') throw new ForbiddenException('this token may only read');
    request.principal = principal;
    return true;
  }

  private identify(header: string | undefined): Principal | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    if (!m) return undefined;
    const presented = digest(m[1]!);
    let found: Principal | undefined;
    // Compare against every token, so timing does not tell how many were tried.
    for (const k of this.known) {
      if (timingSafeEqual(k.digest, presented) && !found) found = { name: k.name, role: k.role };
    }
    return found;
  }
}
