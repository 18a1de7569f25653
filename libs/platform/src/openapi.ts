import { applyDecorators } from '@nestjs/common';
import { ApiBadRequestResponse, ApiConflictResponse, ApiForbiddenResponse, ApiNotFoundResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';

const error = (statusCode: number, example: string) => ({
  schema: {
    type: 'object',
    required: ['statusCode', 'message'],
    properties: {
      statusCode: { type: 'integer', example: statusCode },
      message: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], example },
      error: { type: 'string' },
      errors: {
        type: 'array',
        description: 'For validation errors: each offending field and what is wrong with it',
        items: { type: 'object', properties: { path: { type: 'array', items: { type: 'string' } }, message: { type: 'string' } } },
      },
    },
  },
});

/** Documents the error answers an endpoint can give (every protected endpoint has 401). */
export function ApiErrors(...codes: Array<400 | 403 | 404 | 409>) {
  const decorators = [ApiUnauthorizedResponse({ description: 'No valid bearer token', ...error(401, 'a valid bearer token is required') })];
  if (codes.includes(400)) decorators.push(ApiBadRequestResponse({ description: 'Invalid input; `errors` names each field', ...error(400, 'Validation failed') }));
  if (codes.includes(403)) decorators.push(ApiForbiddenResponse({ description: 'The token may only read', ...error(403, 'this token may only read') }));
  if (codes.includes(404)) decorators.push(ApiNotFoundResponse({ description: 'No such resource', ...error(404, 'unknown agent a-1') }));
  if (codes.includes(409)) decorators.push(ApiConflictResponse({ description: 'The resource is in a state that does not allow this', ...error(409, 'rollout 6f1c… was aborted') }));
  return applyDecorators(...decorators);
}
