import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { BrokerIssuer } from '../broker-core';
import { HttpRefusal } from './error-filter';
import { RUNTIME, type BrokerRuntime } from './runtime';

/**
 * The broker's own issuer (`brokerIdentity`): what a cloud reads to trust the broker's
 * tokens. Public and cacheable (five minutes: a key is published a token lifetime before
 * it signs, so a cached JWKS never lacks the signing key); every other route says no-store.
 */
export const ISSUER_CACHE_CONTROL = 'public, max-age=300';

@Controller('.well-known')
export class IssuerController {
  constructor(@Inject(RUNTIME) private readonly runtime: BrokerRuntime) {}

  @Get('openid-configuration')
  discovery(@Res({ passthrough: true }) reply: FastifyReply): Record<string, unknown> {
    const issuer = this.issuer();
    cacheable(reply);
    return issuer.discovery();
  }

  @Get('jwks.json')
  jwks(@Res({ passthrough: true }) reply: FastifyReply): Record<string, unknown> {
    const issuer = this.issuer();
    cacheable(reply);
    reply.header('content-type', 'application/jwk-set+json; charset=utf-8');
    return issuer.jwks();
  }

  private issuer(): BrokerIssuer {
    const issuer = this.runtime.broker.issuer;
    if (!issuer) throw new HttpRefusal(404, "this broker is not an issuer: its config has no 'brokerIdentity'");
    return issuer;
  }
}

function cacheable(reply: FastifyReply): void {
  reply.header('cache-control', ISSUER_CACHE_CONTROL);
  reply.removeHeader('pragma');
}
