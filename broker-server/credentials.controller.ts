import { Controller, Get, HttpCode, Inject, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { RequestInvalid, ShuttingDown, type ClientInfo, type KeysResponse, type MintResponse } from '../broker-core';
import { parseMintBody } from './request-schema';
import { RUNTIME, type BrokerRuntime } from './runtime';

@Controller('credentials')
export class CredentialsController {
  constructor(@Inject(RUNTIME) private readonly runtime: BrokerRuntime) {}

  @Post('mint')
  @HttpCode(200)
  async mint(@Req() request: FastifyRequest): Promise<MintResponse> {
    this.admit();
    const body = parseMintBody(request.body);
    const bearer = bearerToken(request);
    if (bearer !== undefined && body.oidcToken !== undefined) {
      throw new RequestInvalid('send the token in the body or in the Authorization header, not both');
    }
    return this.runtime.broker.mint({
      token: bearer ?? body.oidcToken,
      keys: body.keys,
      all: body.all,
      duration: body.duration,
      idpName: body.idpName,
      requestId: request.id,
      client: clientOf(request),
      timings: request.voidkeyTimings ?? undefined,
    });
  }

  @Get('keys')
  async keys(@Req() request: FastifyRequest): Promise<KeysResponse> {
    this.admit();
    const query = request.query as Record<string, unknown>;
    const idpName = typeof query.idpName === 'string' ? query.idpName : undefined;
    return this.runtime.broker.listKeys({ token: bearerToken(request), idpName, requestId: request.id, client: clientOf(request) });
  }

  /** Shutdown, before any work (the rate limit and the query-string rule apply to every route, in create-app.ts). */
  private admit(): void {
    if (!this.runtime.accepting) throw new ShuttingDown('the broker is shutting down; retry on another instance', { retryAfterSeconds: 1 });
  }

  @Get('idp-providers')
  idpProviders(): Array<{ name: string; isDefault: boolean }> {
    return this.runtime.broker.idpProviders();
  }
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) throw new RequestInvalid("the Authorization header must be 'Bearer <token>'");
  return match[1];
}

function clientOf(request: FastifyRequest): ClientInfo {
  const userAgent = request.headers['user-agent'];
  return { address: request.ip, ...(userAgent ? { userAgent: userAgent.slice(0, 256) } : {}) };
}
