import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyResult, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pino from 'pino';
import { ConfigError, formatIssue, type ProviderRegistry } from '../broker-core';
import { createRuntime, envSource, type ConfigSource, type Runtime } from './bootstrap';
import { createApp } from './create-app';
import { eventToRequest, isHttpApiEvent, isRestApiEvent, type ApiGatewayEvent } from './lambda/event-to-request';
import { toHttpApiResult, toRestApiResult } from './lambda/response-to-result';
import { createLogger, type Logger } from './logger';
import { STANDARD_HEADERS } from './transport';

export type { ApiGatewayEvent } from './lambda/event-to-request';
export type LambdaResult = APIGatewayProxyResult | APIGatewayProxyStructuredResultV2;

export interface LambdaHandler {
  (event: ApiGatewayEvent, context?: Partial<Context>): Promise<LambdaResult>;
  /** Builds the app now; never rejects (a failed start is answered per request). The bundle awaits it during Lambda's init phase. */
  warm(): Promise<void>;
  /** Closes the app and its upstream connections. */
  close(): Promise<void>;
}

export interface LambdaHandlerOptions {
  /** Default `process.env`: config `${VAR}`s, `LOG_LEVEL`, `VOIDKEY_BASE_PATH`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default: `envSource(env)`, i.e. `VOIDKEY_CONFIG` (a path) or `VOIDKEY_CONFIG_YAML` (the text). */
  readonly source?: ConfigSource;
  readonly logger?: Logger;
  readonly providers?: ProviderRegistry;
  /** A custom domain's API mapping to strip from paths; default `VOIDKEY_BASE_PATH`. */
  readonly basePath?: string;
}

type Started =
  | { readonly kind: 'serving'; readonly app: NestFastifyApplication; readonly runtime: Runtime }
  | { readonly kind: 'failed'; readonly error: string; readonly code: string; readonly message: string };

/**
 * The broker as a Lambda handler behind API Gateway (REST API and HTTP API events). The
 * runtime and the NestJS app are built once per container, on the first call or `warm()`,
 * and shared by every invocation after it: the JWKS, broker tokens and upstream sockets
 * stay cached while the container lives. Events become `fastify.inject()` requests, so the
 * Lambda path runs exactly the server's routes, hooks and error mapping.
 */
export function createLambdaHandler(options: LambdaHandlerOptions = {}): LambdaHandler {
  let started: Promise<Started> | undefined;
  const start = () => (started ??= startBroker(options));

  const handler = async (event: ApiGatewayEvent, context?: Partial<Context>): Promise<LambdaResult> => {
    const state = await start();
    const requestId = context?.awsRequestId || randomUUID();
    if (state.kind === 'failed') return failedAnswer(state, requestId);
    if (!isHttpApiEvent(event) && !isRestApiEvent(event)) {
      state.runtime.logger.warn({ requestId, eventKeys: Object.keys(event ?? {}).slice(0, 20) }, 'not an API Gateway proxy event');
      return jsonAnswer(400, { error: 'request_invalid', code: 'ERR_REQUEST_INVALID', message: 'the function expects API Gateway proxy events', requestId }, requestId);
    }
    // API Gateway sends the body as text (base64 when binary); an object here can only come
    // from a direct invoke, and is refused rather than guessed at.
    const body: unknown = (event as { body?: unknown }).body;
    if (body !== undefined && body !== null && typeof body !== 'string') {
      state.runtime.logger.warn({ requestId, bodyType: Array.isArray(body) ? 'array' : typeof body }, 'API Gateway event body is not a string');
      return jsonAnswer(400, { error: 'request_invalid', code: 'ERR_REQUEST_INVALID', message: "the event's body is not a string (API Gateway sends text, base64 when binary)", requestId }, requestId);
    }
    const request = eventToRequest(event, { basePath: options.basePath ?? (options.env ?? process.env).VOIDKEY_BASE_PATH, requestId });
    const response = await state.app.getHttpAdapter().getInstance().inject(request);
    return isHttpApiEvent(event) ? toHttpApiResult(response) : toRestApiResult(response);
  };

  return Object.assign(handler, {
    warm: async () => {
      await start();
    },
    close: async () => {
      const state = await started;
      started = undefined;
      if (state?.kind !== 'serving') return;
      await state.app.close();
      state.runtime.close();
    },
  });
}

async function startBroker(options: LambdaHandlerOptions): Promise<Started> {
  const env = options.env ?? process.env;
  // Synchronous stdout: Lambda freezes the container once the handler returns, so a log
  // line (and the audit event, which is one) is written before the answer leaves or not at all.
  const known = env.LOG_LEVEL === undefined || env.LOG_LEVEL === 'silent' || Object.hasOwn(pino.levels.values, env.LOG_LEVEL);
  const logger = options.logger ?? createLogger({ level: known ? env.LOG_LEVEL : 'info', destination: pino.destination({ dest: 1, sync: true }) });
  if (!known) logger.warn({ logLevel: String(env.LOG_LEVEL).slice(0, 32) }, 'unknown LOG_LEVEL: logging at info');
  let runtime: Runtime;
  let source: ConfigSource;
  try {
    source = options.source ?? envSource(env);
    runtime = createRuntime(source, { env, logger, ...(options.providers ? { providers: options.providers } : {}) });
  } catch (err) {
    // Logged once per container; every request is then answered 503 rather than the
    // function crashing on each cold start with nothing but an init error to show.
    const issues = err instanceof ConfigError ? err.issues.map(formatIssue) : [describe(err)];
    logger.error({ issues }, 'config invalid: every request is answered 503 config_invalid until a valid config is deployed');
    return { kind: 'failed', error: 'config_invalid', code: 'ERR_CONFIG_INVALID', message: 'the broker configuration is invalid; the function log names each problem' };
  }
  try {
    const app = await createApp(runtime);
    logger.info({ config: source.name, version: runtime.version }, 'voidkey broker ready (lambda)');
    return { kind: 'serving', app, runtime };
  } catch (err) {
    runtime.close();
    logger.error({ errName: (err as Error)?.name, errMessage: (err as Error)?.message }, 'broker failed to start: every request is answered 503');
    return { kind: 'failed', error: 'startup_failed', code: 'ERR_STARTUP_FAILED', message: 'the broker failed to start; see the function log' };
  }
}

function describe(err: unknown): string {
  const errno = err as NodeJS.ErrnoException;
  if (errno?.code && errno.syscall) return `${errno.code} ${errno.path ?? ''}`.trim();
  return (err as Error)?.message ?? String(err);
}

function failedAnswer(state: Extract<Started, { kind: 'failed' }>, requestId: string): LambdaResult {
  return jsonAnswer(503, { error: state.error, code: state.code, message: state.message, requestId }, requestId);
}

function jsonAnswer(statusCode: number, body: Record<string, unknown>, requestId: string): LambdaResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId, ...STANDARD_HEADERS },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

/** The function's entry point (`index.handler` in the bundle): config from the environment. */
export const handler: LambdaHandler = createLambdaHandler();
