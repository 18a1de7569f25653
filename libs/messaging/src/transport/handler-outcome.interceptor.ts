import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { type Observable, catchError, of } from 'rxjs';
import { HandlerFailure } from './herald-transport';

/**
 * Lets HeraldTransport see why a message handler failed: a thrown error becomes a HandlerFailure
 * value, which the transport turns into a retry with the error's message as the reason (Nest's
 * default RPC error handling would hide it behind "Internal server error"). HTTP requests pass
 * through untouched.
 */
@Injectable()
export class HandlerOutcomeInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    return next.handle().pipe(catchError((err: unknown) => of(new HandlerFailure(err))));
  }
}
