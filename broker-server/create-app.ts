import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { CredentialsController } from './credentials.controller';
import { BrokerErrorFilter } from './error-filter';
import { HealthController } from './health.controller';
import { RUNTIME, type BrokerRuntime } from './runtime';

export const BODY_LIMIT_BYTES = 64 * 1024;
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

@Module({})
class AppModule {
  static forRuntime(runtime: BrokerRuntime): DynamicModule {
    return {
      module: AppModule,
      controllers: [CredentialsController, HealthController],
      providers: [{ provide: RUNTIME, useValue: runtime }],
    };
  }
}

/** The NestJS application on fastify, shared by the server, the Lambda handler and tests. */
export async function createApp(runtime: BrokerRuntime): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    logger: false,
    trustProxy: false,
    genReqId: (req: IncomingMessage) => {
      const sent = req.headers['x-request-id'];
      return typeof sent === 'string' && SANE_REQUEST_ID.test(sent) ? sent : randomUUID();
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRuntime(runtime), adapter, { logger: false, abortOnError: false });
  app.useGlobalFilters(new BrokerErrorFilter(runtime.logger));
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
  });
  fastify.addHook('onResponse', async (request, reply) => {
    runtime.logger.info(
      { requestId: request.id, method: request.method, route: request.routeOptions.url ?? 'unknown', status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });
  // Only JSON bodies: text/plain would otherwise reach the schema as a string.
  fastify.removeContentTypeParser('text/plain');
  await app.init();
  return app;
}
