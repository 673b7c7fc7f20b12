import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { InternalError, isBrokerError, MintFailed } from '../broker-core';
import { errorBody, statusOf } from './http-status';
import type { Logger } from './logger';

/** Routes and the methods they answer, for 405 with `Allow`. */
export const ROUTES: Readonly<Record<string, string>> = {
  '/credentials/mint': 'POST',
  '/credentials/keys': 'GET',
  '/credentials/idp-providers': 'GET',
  '/health': 'GET',
  '/healthz': 'GET',
  '/readyz': 'GET',
  '/metrics': 'GET',
  '/openapi.json': 'GET',
  '/.well-known/openid-configuration': 'GET',
  '/.well-known/jwks.json': 'GET',
  '/oauth2/token': 'POST',
  '/.well-known/oauth-authorization-server': 'GET',
};

/** Refusals of the HTTP layer itself (fastify, node:http's parser), by status. */
export const FRAMEWORK_ERRORS: Readonly<Record<number, { error: string; code: string; message: string }>> = {
  400: { error: 'request_invalid', code: 'ERR_REQUEST_INVALID', message: 'the request body is not valid JSON' },
  404: { error: 'not_found', code: 'ERR_NOT_FOUND', message: 'no such route' },
  405: { error: 'method_not_allowed', code: 'ERR_METHOD_NOT_ALLOWED', message: 'this route does not answer that method' },
  408: { error: 'request_timeout', code: 'ERR_REQUEST_TIMEOUT', message: 'the request did not arrive in time' },
  413: { error: 'payload_too_large', code: 'ERR_PAYLOAD_TOO_LARGE', message: 'the request body is larger than 64 KiB' },
  415: { error: 'unsupported_media_type', code: 'ERR_UNSUPPORTED_MEDIA_TYPE', message: 'send the request body as application/json' },
  431: { error: 'headers_too_large', code: 'ERR_HEADERS_TOO_LARGE', message: 'the request headers are too large' },
};

/** A refusal by the HTTP layer with its own message; error and code come from FRAMEWORK_ERRORS. */
export class HttpRefusal extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpRefusal';
  }
}

const reasons = new WeakMap<FastifyRequest, string>();

/** The error reason a request was answered with (for metrics labels: a bounded set). */
export function reasonOf(request: FastifyRequest): string | undefined {
  return reasons.get(request);
}

/**
 * Every error leaves as `{error, code, message, requestId}` with a status from DESIGN.md.
 * Bad input is never a 500, and no stack, token or upstream body is ever sent.
 */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply, logger: Logger): void {
  const requestId = request.id;
  if (request.url.split('?')[0] === TOKEN_ENDPOINT) {
    sendOAuthError(error, request, reply, logger);
    return;
  }
  if (isBrokerError(error)) {
    const status = statusOf(error);
    if (status === 401) reply.header('www-authenticate', `Bearer error="invalid_token"`);
    if (error.retryAfterSeconds !== undefined && (status === 503 || status === 429)) reply.header('retry-after', String(error.retryAfterSeconds));
    if (status >= 500 && error.code === 'ERR_INTERNAL') logger.error({ requestId, errName: (error.cause as Error)?.name, detail: error.detail }, 'internal error');
    reasons.set(request, error.reason);
    reply.status(status).send(errorBody(error, requestId));
    return;
  }
  let status = statusFromFramework(error);
  const path = request.url.split('?')[0]!;
  if (status === 404 && Object.hasOwn(ROUTES, path)) {
    status = 405;
    reply.header('allow', ROUTES[path]!);
  }
  const known = FRAMEWORK_ERRORS[status];
  if (known) {
    reasons.set(request, known.error);
    reply.status(status).send({ ...known, ...(error instanceof HttpRefusal ? { message: error.message } : {}), requestId });
    return;
  }
  if (status >= 400 && status < 500) {
    reply.status(400).send({ ...FRAMEWORK_ERRORS[400]!, message: 'the request is malformed', requestId });
    return;
  }
  logger.error({ requestId, errName: (error as Error)?.name, errCode: (error as { code?: string })?.code }, 'unexpected error');
  const internal = new InternalError('the broker failed unexpectedly');
  reply.status(500).send(errorBody(internal, requestId));
}

/** RFC 8693 token exchange: its errors are RFC 6749 §5.2 JSON, not the broker's envelope. */
export const TOKEN_ENDPOINT = '/oauth2/token';

/** RFC 6749 §5.2 / RFC 8693 §2.2.2 error codes, for the broker codes the token endpoint can meet. */
const OAUTH_DENIALS = new Set(['ERR_IDENTITY_NOT_MATCHED', 'ERR_KEY_NOT_PERMITTED', 'ERR_CLAIM_VALUE_INVALID', 'ERR_POLICY_DENIED']);

export interface OAuthErrorBody {
  error: string;
  error_description: string;
  /** The broker's own code (docs/api.md), for diagnosis beside the standard one. */
  code: string;
  requestId: string;
}

/** A refusal raised by the token endpoint itself, with the RFC 6749 code it answers. */
export class OAuthRefusal extends Error {
  constructor(
    readonly error: 'invalid_request' | 'unsupported_grant_type' | 'invalid_target' | 'invalid_scope',
    message: string,
  ) {
    super(message);
    this.name = 'OAuthRefusal';
  }
}

/** The status and RFC 6749 code of an error met on the token endpoint. */
export function oauthErrorOf(error: unknown): { status: number; body: Omit<OAuthErrorBody, 'requestId'> } {
  if (error instanceof OAuthRefusal) return { status: 400, body: { error: error.error, error_description: error.message, code: `ERR_OAUTH_${error.error.toUpperCase()}` } };
  if (isBrokerError(error)) {
    const status = statusOf(error);
    const code = error instanceof MintFailed ? error.primary.code : error.code;
    const body = { error_description: error.message, code: error.code };
    if (code.startsWith('ERR_TOKEN_')) return { status: 400, body: { error: 'invalid_grant', ...body } };
    if (code === 'ERR_SCOPE_INVALID') return { status: 400, body: { error: 'invalid_scope', ...body } };
    if (code === 'ERR_KEY_NOT_EXCHANGEABLE') return { status: 400, body: { error: 'invalid_target', ...body } };
    if (OAUTH_DENIALS.has(code)) return { status: 403, body: { error: 'invalid_target', ...body } };
    if (status === 400) return { status, body: { error: 'invalid_request', ...body } };
    if (status === 429 || status === 503) return { status, body: { error: 'temporarily_unavailable', ...body } };
    return { status, body: { error: 'server_error', ...body } };
  }
  // Only the token endpoint's path comes here: a 404 is a method it does not answer.
  const status = statusFromFramework(error) === 404 ? 405 : statusFromFramework(error);
  const known = FRAMEWORK_ERRORS[status];
  if (known) return { status, body: { error: 'invalid_request', error_description: error instanceof HttpRefusal ? error.message : known.message, code: known.code } };
  if (status >= 400 && status < 500) return { status: 400, body: { error: 'invalid_request', error_description: 'the request is malformed', code: 'ERR_REQUEST_INVALID' } };
  return { status: 500, body: { error: 'server_error', error_description: 'the broker failed unexpectedly', code: 'ERR_INTERNAL' } };
}

function sendOAuthError(error: unknown, request: FastifyRequest, reply: FastifyReply, logger: Logger): void {
  const requestId = request.id;
  const { status, body } = oauthErrorOf(error);
  if (isBrokerError(error)) {
    if (error.retryAfterSeconds !== undefined && (status === 503 || status === 429)) reply.header('retry-after', String(error.retryAfterSeconds));
    if (status >= 500 && error.code === 'ERR_INTERNAL') logger.error({ requestId, errName: (error.cause as Error)?.name, detail: error.detail }, 'internal error');
    reasons.set(request, error.reason);
  } else if (error instanceof OAuthRefusal || FRAMEWORK_ERRORS[status]) {
    reasons.set(request, error instanceof OAuthRefusal ? 'request_invalid' : FRAMEWORK_ERRORS[status]!.error);
  } else {
    logger.error({ requestId, errName: (error as Error)?.name, errCode: (error as { code?: string })?.code }, 'unexpected error');
  }
  if (status === 405) reply.header('allow', ROUTES[TOKEN_ENDPOINT]!);
  reply.header('cache-control', 'no-store');
  reply.status(status).send({ ...body, requestId } satisfies OAuthErrorBody);
}

function statusFromFramework(error: unknown): number {
  if (error instanceof HttpException) return error.getStatus();
  const statusCode = (error as { statusCode?: unknown })?.statusCode;
  return typeof statusCode === 'number' ? statusCode : 500;
}

@Catch()
export class BrokerErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendError(exception, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>(), this.logger);
  }
}
