import { Controller, Get, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ShuttingDown } from '../broker-core';
import { HttpRefusal, OAuthRefusal, TOKEN_ENDPOINT } from './error-filter';
import { RUNTIME, type BrokerRuntime } from './runtime';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3: what a caller's OIDC token may be called. */
export const SUBJECT_TOKEN_TYPES = ['urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:token-type:id_token'] as const;
export const ISSUED_TOKEN_TYPES = ['urn:ietf:params:oauth:token-type:access_token', 'urn:ietf:params:oauth:token-type:jwt'] as const;
export const KEY_RESOURCE_PREFIX = 'urn:voidkey:key:';

export interface TokenExchangeResponse {
  access_token: string;
  issued_token_type: string;
  token_type: 'Bearer';
  expires_in: number;
  /** RFC 6749 §5.1: present when the token's scopes are not exactly those requested. */
  scope?: string;
}

/** Form parameters, each at most once (RFC 6749 §3.2); filled in by the form parser of create-app.ts. */
export type FormBody = ReadonlyMap<string, string>;

/**
 * RFC 8693 token exchange: a second door onto the mint. The form names one key; the
 * broker verifies, matches, authorises, mints and audits exactly as for /credentials/mint,
 * and the answer is that key's one token. Errors are RFC 6749 §5.2 (error-filter.ts).
 */
@Controller()
export class TokenExchangeController {
  constructor(@Inject(RUNTIME) private readonly runtime: BrokerRuntime) {}

  @Post('oauth2/token')
  @HttpCode(200)
  async token(@Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<TokenExchangeResponse> {
    if (!this.runtime.accepting) throw new ShuttingDown('the broker is shutting down; retry on another instance', { retryAfterSeconds: 1 });
    const form = request.body;
    if (!(form instanceof Map)) throw new OAuthRefusal('invalid_request', 'send the request as application/x-www-form-urlencoded');
    const parameters = form as FormBody;
    if (request.headers.authorization !== undefined) {
      throw new OAuthRefusal('invalid_request', 'this endpoint takes no Authorization header: send the OIDC token as subject_token');
    }
    const grantType = required(parameters, 'grant_type');
    if (grantType !== TOKEN_EXCHANGE_GRANT) throw new OAuthRefusal('unsupported_grant_type', `grant_type must be ${TOKEN_EXCHANGE_GRANT}`);
    const subjectToken = required(parameters, 'subject_token');
    const subjectTokenType = required(parameters, 'subject_token_type');
    if (!(SUBJECT_TOKEN_TYPES as readonly string[]).includes(subjectTokenType)) {
      throw new OAuthRefusal('invalid_request', `subject_token_type must be one of ${SUBJECT_TOKEN_TYPES.join(', ')}`);
    }
    if (parameters.has('actor_token') || parameters.has('actor_token_type')) throw new OAuthRefusal('invalid_request', 'actor_token is not supported');
    const requested = parameters.get('requested_token_type');
    if (requested !== undefined && !(ISSUED_TOKEN_TYPES as readonly string[]).includes(requested)) {
      throw new OAuthRefusal('invalid_request', `requested_token_type must be one of ${ISSUED_TOKEN_TYPES.join(', ')}`);
    }
    const scope = parameters.get('scope');
    const scopes = scope === undefined ? undefined : scope.split(' ').filter((one) => one !== '');
    if (scopes !== undefined && (scopes.length === 0 || scopes.length > 32 || scopes.some((one) => !/^[\x21\x23-\x5b\x5d-\x7e]{1,512}$/.test(one)))) {
      throw new OAuthRefusal('invalid_scope', 'scope must be 1 to 32 space-separated RFC 6749 scope tokens');
    }
    const key = keyOf(parameters);

    const response = await this.runtime.broker.mint({
      token: subjectToken,
      keys: [key],
      exchange: true,
      ...(scopes === undefined ? {} : { scopes }),
      ...(requested === undefined ? {} : { requestedTokenType: requested }),
      requestId: request.id,
      client: { address: request.ip, ...(request.headers['user-agent'] ? { userAgent: request.headers['user-agent'].slice(0, 256) } : {}) },
      timings: request.voidkeyTimings ?? undefined,
    });
    const minted = response[key]!;
    const exchange = minted.metadata.exchange!;
    reply.header('cache-control', 'no-store');
    reply.header('pragma', 'no-cache');
    // RFC 6749 §5.1: the token carries the key's scopes; say so when they are not exactly the ones asked for.
    const sameScopes = scopes !== undefined && scopes.length === exchange.scopes.length && exchange.scopes.every((one) => scopes.includes(one));
    return {
      access_token: minted.credentials[exchange.output]!,
      issued_token_type: exchange.tokenType,
      token_type: 'Bearer',
      expires_in: Math.max(0, Math.floor((Date.parse(minted.expiresAt) - Date.now()) / 1000)),
      ...(sameScopes || exchange.scopes.length === 0 ? {} : { scope: exchange.scopes.join(' ') }),
    };
  }

  /** RFC 8414: where the token endpoint is and what it speaks. The broker's public URL is its `brokerIdentity.issuer`. */
  @Get('.well-known/oauth-authorization-server')
  metadata(): Record<string, unknown> {
    const issuer = this.runtime.broker.issuer;
    if (!issuer) throw new HttpRefusal(404, "this broker does not know its public URL: its config has no 'brokerIdentity'");
    const base = issuer.discovery().issuer as string;
    return {
      issuer: base,
      token_endpoint: `${base}${TOKEN_ENDPOINT}`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      grant_types_supported: [TOKEN_EXCHANGE_GRANT],
      token_endpoint_auth_methods_supported: ['none'],
      response_types_supported: [],
      'urn:voidkey:subject_token_types_supported': [...SUBJECT_TOKEN_TYPES],
      'urn:voidkey:issued_token_types_supported': [...ISSUED_TOKEN_TYPES],
    };
  }
}

function required(parameters: FormBody, name: string): string {
  const value = parameters.get(name);
  if (value === undefined || value === '') throw new OAuthRefusal('invalid_request', `the '${name}' parameter is required`);
  return value;
}

/** Key names are config map keys: anything printable, bounded (the broker answers 403 for a name it does not grant). */
const KEY_NAME = /^[\x21-\x7e]{1,256}$/;

/** The one key: `resource=urn:voidkey:key:<KEY>` or `audience=<KEY>`; both must agree. */
function keyOf(parameters: FormBody): string {
  const resource = parameters.get('resource');
  // Google's external_account clients send the file's `audience`: the resource form is accepted there too.
  const sent = parameters.get('audience');
  const audience = sent?.startsWith(KEY_RESOURCE_PREFIX) ? sent.slice(KEY_RESOURCE_PREFIX.length) : sent;
  if (resource === undefined && audience === undefined) {
    throw new OAuthRefusal('invalid_request', `name the key as resource=${KEY_RESOURCE_PREFIX}<KEY> or audience=<KEY>`);
  }
  let fromResource: string | undefined;
  if (resource !== undefined) {
    if (!resource.startsWith(KEY_RESOURCE_PREFIX)) throw new OAuthRefusal('invalid_target', `resource must be ${KEY_RESOURCE_PREFIX}<KEY>`);
    fromResource = resource.slice(KEY_RESOURCE_PREFIX.length);
  }
  if (fromResource !== undefined && audience !== undefined && fromResource !== audience) {
    throw new OAuthRefusal('invalid_target', 'resource and audience name different keys');
  }
  const key = (fromResource ?? audience)!;
  if (!KEY_NAME.test(key)) throw new OAuthRefusal('invalid_target', 'the key name is not valid');
  return key;
}
