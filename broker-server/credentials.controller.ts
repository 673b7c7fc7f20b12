import { Controller, Get, HttpCode, Inject, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { RequestInvalid, ShuttingDown, type ClientInfo, type KeysResponse, type MintResponse } from '../broker-core';
import { parseMintBody } from './request-schema';
import { RUNTIME, type BrokerRuntime } from './runtime';

const TOKEN_QUERY_PARAMS = ['token', 'oidcToken', 'oidc_token', 'access_token', 'id_token'];

@Controller('credentials')
export class CredentialsController {
  constructor(@Inject(RUNTIME) private readonly runtime: BrokerRuntime) {}

  @Post('mint')
  @HttpCode(200)
  async mint(@Req() request: FastifyRequest): Promise<MintResponse> {
    this.admit(request);
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
    this.admit(request);
    const query = request.query as Record<string, unknown>;
    const idpName = typeof query.idpName === 'string' ? query.idpName : undefined;
    return this.runtime.broker.listKeys({ token: bearerToken(request), idpName, requestId: request.id, client: clientOf(request) });
  }

  /** Shutdown, rate limit and the query-string rule, before any work. */
  private admit(request: FastifyRequest): void {
    if (!this.runtime.accepting) throw new ShuttingDown('the broker is shutting down; retry on another instance', { retryAfterSeconds: 1 });
    this.runtime.rateLimiter?.take(request.ip);
    refuseTokenInQuery(request);
  }

  @Get('idp-providers')
  idpProviders(): Array<{ name: string; isDefault: boolean }> {
    return this.runtime.broker.idpProviders();
  }
}

/** RFC 6750: a bearer token in a URL ends up in access logs, so it is refused outright. */
function refuseTokenInQuery(request: FastifyRequest): void {
  const query = request.query as Record<string, unknown> | undefined;
  if (query && TOKEN_QUERY_PARAMS.some((name) => Object.hasOwn(query, name))) {
    throw new RequestInvalid('a token in the query string is refused (URLs get logged); use the Authorization header');
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
