import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequestInvalid, type RequestTimings } from '../broker-core';
import { CredentialsController } from './credentials.controller';
import { BrokerErrorFilter, HttpRefusal, reasonOf, sendError, TOKEN_ENDPOINT } from './error-filter';
import { HealthController } from './health.controller';
import { IssuerController } from './issuer.controller';
import { parseFormBody, parseJsonBody, refuseDuplicateHeaders, refuseTokenInQuery } from './request-guards';
import { OpenApiController } from './openapi.controller';
import { TokenExchangeController } from './token-exchange.controller';
import { fixedFieldsLogger } from './logger';
import { RUNTIME, type BrokerRuntime } from './runtime';
import { clientErrorHandler, ConnectionBudget, rememberRequestId, STANDARD_HEADERS, TRANSPORT_DEFAULTS, transportOptions } from './transport';

export const BODY_LIMIT_BYTES = 64 * 1024;
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

@Module({})
class BrokerModule {
  static forRuntime(runtime: BrokerRuntime): DynamicModule {
    return {
      module: BrokerModule,
      controllers: [CredentialsController, HealthController, OpenApiController, IssuerController, TokenExchangeController],
      providers: [{ provide: RUNTIME, useValue: runtime }],
    };
  }
}

/** The NestJS application on fastify, shared by the server, the Lambda handler and tests. */
export async function createApp(runtime: BrokerRuntime): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    logger: false,
    trustProxy: runtime.server.trustProxy ?? false,
    genReqId: (req: IncomingMessage) => {
      const sent = req.headers['x-request-id'];
      return typeof sent === 'string' && SANE_REQUEST_ID.test(sent) ? sent : randomUUID();
    },
    // Slow clients (slowloris headers, a trickling body) and idle keep-alive connections.
    ...transportOptions(runtime.server),
    // What node:http's parser refuses (400, 413, 431) or a deadline cuts (408).
    clientErrorHandler: clientErrorHandler(({ status, error, requestId, code }) => {
      runtime.metrics.httpRequest(undefined, status, error);
      runtime.logger.info({ requestId, status, reason: error, parserCode: code }, 'request refused by the HTTP parser');
    }),
    // The router's own refusals (a malformed percent-encoding in the path) come before any hook.
    frameworkErrors: (_error: Error, request: FastifyRequest, reply: FastifyReply) => {
      reply.headers({ 'x-request-id': request.id, ...STANDARD_HEADERS });
      runtime.metrics.httpRequest(undefined, 400, 'request_invalid');
      sendError(new RequestInvalid('the request path is not valid URL encoding'), request, reply, runtime.logger);
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(BrokerModule.forRuntime(runtime), adapter, { logger: false, abortOnError: false, bodyParser: false });
  app.useGlobalFilters(new BrokerErrorFilter(runtime.logger));
  const fastify = app.getHttpAdapter().getInstance();

  // JSON only, parsed strictly: duplicate member names are ambiguous, so refused.
  // Filled in by the credentials routes: the time a request waited on access providers.
  fastify.decorateRequest('voidkeyTimings', null);
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES }, (request, body, done) => {
    try {
      if (request.routeOptions.url === TOKEN_ENDPOINT) throw new HttpRefusal(415, 'send the request body as application/x-www-form-urlencoded');
      done(null, parseJsonBody(request.headers['content-type'], body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // RFC 6749 §4.1.3 / RFC 8693 §2.1: the token endpoint, and only it, takes a form.
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES }, (request, body, done) => {
    try {
      if (request.routeOptions.url !== TOKEN_ENDPOINT) throw new HttpRefusal(415, 'send the request body as application/json');
      done(null, parseFormBody(request.headers['content-type'], body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // Before the body is read, on every route: the headers every answer carries, the rate
  // limit, and the refusal of ambiguous headers and of tokens in the URL.
  // Hooks take a callback rather than returning a promise: one microtask hop fewer each,
  // on every request. A hook that throws fails the request as a rejected promise would.
  fastify.addHook('onRequest', (request, reply, done) => {
    // Every answer of the credential routes, refusals included, is timed the same way.
    const route = request.routeOptions.url;
    if (route === '/credentials/mint' || route === '/credentials/keys' || route === TOKEN_ENDPOINT) request.voidkeyTimings = { upstreamMs: 0 };
    reply.headers({ 'x-request-id': request.id, ...STANDARD_HEADERS });
    rememberRequestId(request.raw, request.id);
    const origin = request.headers.origin;
    const cors = runtime.server.cors;
    const corsAllowed = cors !== undefined && typeof origin === 'string' && cors.origins.includes(origin);
    // Set first, so that a browser can read a refusal too.
    if (corsAllowed) reply.headers({ 'access-control-allow-origin': origin, vary: 'Origin' });
    runtime.rateLimiter?.take(request.ip);
    refuseDuplicateHeaders(request);
    refuseTokenInQuery(request);
    if (corsAllowed && request.method === 'OPTIONS') {
      reply.header('access-control-allow-methods', 'GET, POST');
      reply.header('access-control-allow-headers', 'authorization, content-type, x-request-id');
      reply.header('access-control-max-age', '600');
      reply.status(204).send();
      return;
    }
    done();
  });
  // While draining, every answer closes its connection so keep-alive clients let go; so
  // does the last answer a connection may carry.
  const budget = new ConnectionBudget(runtime.server.maxRequestsPerSocket ?? TRANSPORT_DEFAULTS.maxRequestsPerSocket);
  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (budget.spend(request.raw.socket) || !runtime.accepting) reply.header('connection', 'close');
    // W3C Server-Timing: how long this answer waited on access providers, so a caller can
    // tell the broker's time from the cloud's.
    const timings = request.voidkeyTimings;
    if (timings) reply.header('server-timing', `upstream;dur=${timings.upstreamMs.toFixed(2)}`);
    done(null, payload);
  });
  const accessLog = fixedFieldsLogger(runtime.logger);
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
    runtime.metrics.httpRequest(route, reply.statusCode, reasonOf(request));
    const timings = request.voidkeyTimings;
    if (timings) runtime.metrics.brokerTime(route, reply.statusCode, (reply.elapsedTime - timings.upstreamMs) / 1000);
    accessLog.info(
      { requestId: request.id, method: request.method, route: route ?? 'unknown', status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
    done();
  });
  await app.init();
  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    voidkeyTimings: RequestTimings | null;
  }
}
