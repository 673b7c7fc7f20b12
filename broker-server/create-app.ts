import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { RequestInvalid, type RequestTimings } from '../broker-core';
import { hasDuplicateMembers } from '../broker-core/token/json-duplicates';
import { CredentialsController } from './credentials.controller';
import { BrokerErrorFilter, reasonOf } from './error-filter';
import { HealthController } from './health.controller';
import { OpenApiController } from './openapi.controller';
import { RUNTIME, type BrokerRuntime } from './runtime';

export const BODY_LIMIT_BYTES = 64 * 1024;
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

@Module({})
class AppModule {
  static forRuntime(runtime: BrokerRuntime): DynamicModule {
    return {
      module: AppModule,
      controllers: [CredentialsController, HealthController, OpenApiController],
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
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRuntime(runtime), adapter, { logger: false, abortOnError: false, bodyParser: false });
  app.useGlobalFilters(new BrokerErrorFilter(runtime.logger));
  const fastify = app.getHttpAdapter().getInstance();

  // JSON only, parsed strictly: duplicate member names are ambiguous, so refused.
  // Filled in by the credentials routes: the time a request waited on access providers.
  fastify.decorateRequest('voidkeyTimings', null);
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      done(new RequestInvalid('the request body is not valid JSON'), undefined);
      return;
    }
    if (hasDuplicateMembers(text)) {
      done(new RequestInvalid('the request body has duplicate member names'), undefined);
      return;
    }
    done(null, parsed);
  });

  fastify.addHook('onRequest', async (request, reply) => {
    // Every answer of the credential routes, refusals included, is timed the same way.
    const route = request.routeOptions.url;
    if (route === '/credentials/mint' || route === '/credentials/keys') request.voidkeyTimings = { upstreamMs: 0 };
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    const origin = request.headers.origin;
    const cors = runtime.server.cors;
    if (cors && typeof origin === 'string' && cors.origins.includes(origin)) {
      reply.header('access-control-allow-origin', origin);
      reply.header('vary', 'Origin');
      if (request.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET, POST');
        reply.header('access-control-allow-headers', 'authorization, content-type, x-request-id');
        reply.header('access-control-max-age', '600');
        return reply.status(204).send();
      }
    }
  });
  // While draining, every answer closes its connection so keep-alive clients let go.
  fastify.addHook('onSend', async (request, reply) => {
    if (!runtime.accepting) reply.header('connection', 'close');
    // W3C Server-Timing: how long this answer waited on access providers, so a caller can
    // tell the broker's time from the cloud's.
    const timings = request.voidkeyTimings;
    if (timings) reply.header('server-timing', `upstream;dur=${timings.upstreamMs.toFixed(2)}`);
  });
  fastify.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    runtime.metrics.httpRequest(route, reply.statusCode, reasonOf(request));
    const timings = request.voidkeyTimings;
    if (timings) runtime.metrics.brokerTime(route, reply.statusCode, (reply.elapsedTime - timings.upstreamMs) / 1000);
    runtime.logger.info(
      { requestId: request.id, method: request.method, route: route ?? 'unknown', status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });
  await app.init();
  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    voidkeyTimings: RequestTimings | null;
  }
}
