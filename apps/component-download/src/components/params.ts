import { BadRequestException } from '@nestjs/common';
import type { z } from 'zod';

/** Validates one path parameter; a bad one is a 400 naming it. */
export function parseParam<T>(schema: z.ZodType<T>, name: string, value: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new BadRequestException({ statusCode: 400, message: `invalid ${name}`, errors: [{ path: [name], message: result.error.issues[0]?.message }] });
  return result.data;
}
