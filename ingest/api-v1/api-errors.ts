/**
 * The query API's one error shape: `{ "error": { "code": "FP_API_…", "message": "…" } }` with the
 * HTTP status the code stands for. Codes are in the catalogue (common/error-codes.ts,
 * docs/errors.md); clients match on `code`, never on the message.
 */
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { ErrorCode } from '../../common/error-codes.ts';

export const API_ERROR_STATUS = {
  FP_API_BAD_REQUEST: 400,
  FP_API_UNAUTHORIZED: 401,
  FP_API_FORBIDDEN: 403,
  FP_API_NOT_FOUND: 404,
  FP_API_RATE_LIMITED: 429,
  FP_API_UPSTREAM_FAILED: 503,
} as const satisfies Partial<Record<ErrorCode, number>>;

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

export const apiErrorSchema = z.object({
  error: z.object({ code: z.enum(Object.keys(API_ERROR_STATUS) as [ApiErrorCode, ...ApiErrorCode[]]), message: z.string() }),
});
export type ApiErrorBody = z.infer<typeof apiErrorSchema>;

export function apiErrorBody(code: ApiErrorCode, message: string): ApiErrorBody {
  return { error: { code, message } };
}

export function sendApiError(reply: FastifyReply, code: ApiErrorCode, message: string): FastifyReply {
  if (code === 'FP_API_UNAUTHORIZED') reply.header('WWW-Authenticate', 'Bearer realm="fleetpulse"');
  return reply.code(API_ERROR_STATUS[code]).type('application/json; charset=utf-8').send(apiErrorBody(code, message));
}
