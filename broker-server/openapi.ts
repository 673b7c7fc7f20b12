import { MINT_BODY_SCHEMA } from './request-schema';
import {
  HEALTH_SCHEMA,
  HEALTHZ_SCHEMA,
  IDP_PROVIDERS_SCHEMA,
  KEYS_RESPONSE_SCHEMA,
  MINT_RESPONSE_SCHEMA,
  READYZ_SCHEMA,
  errorCodes,
  errorSchema,
} from './response-schemas';

/**
 * The OpenAPI 3.1 document of every route, built from the schemas the server validates
 * requests with (request-schema.ts) and the response schemas the contract tests hold its
 * answers to (response-schemas.ts). Served at GET /openapi.json; `npm run build` writes
 * it to docs/openapi.json.
 */
export function buildOpenApi(version: string): Record<string, unknown> {
  const statuses = [...new Set(errorCodes().map((row) => row.status))].sort();
  const errorResponses = Object.fromEntries(statuses.map((status) => [`Error${status}`, errorResponse(status)]));
  const document = {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Voidkey broker',
      version,
      summary: 'Stateless OIDC-to-cloud credential-minting broker',
      description:
        'A CI job or workload presents an OIDC token; the broker verifies it, matches it to configured identities and mints short-lived cloud credentials. Every answer carries X-Request-Id and Cache-Control: no-store. Errors are `{error, code, message, requestId}`; docs/api.md lists every code.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [
      { name: 'credentials', description: 'mint credentials and list what a token may mint' },
      { name: 'operations', description: 'health, readiness, metrics and this document' },
      { name: 'issuer', description: 'the broker\'s own OIDC issuer (brokerIdentity)' },
      { name: 'token-exchange', description: 'RFC 8693 token exchange: any RFC 8693 client (Google external_account files) fetches a key\'s token' },
    ],
    paths: {
      '/credentials/mint': {
        post: {
          operationId: 'mint',
          tags: ['credentials'],
          summary: 'Mint credentials for the keys a token may mint',
          description:
            'The token comes in the body (`oidcToken`) or as `Authorization: Bearer`, never both. Several keys are all or nothing: if one cannot be minted the answer carries no credentials and names each failed key under `keys`.',
          security: [{ bearer: [] }, {}],
          requestBody: { required: false, content: { 'application/json': { schema: { $ref: '#/components/schemas/MintRequest' } } } },
          responses: {
            '200': json('the flat map Voidkey\'s CLI parses: key name → credentials', '#/components/schemas/MintResponse', ['X-Request-Id', 'Server-Timing']),
            ...refs([400, 401, 403, 413, 415, 429, 500, 502, 503, 504]),
          },
        },
      },
      '/credentials/keys': {
        get: {
          operationId: 'listKeys',
          tags: ['credentials'],
          summary: 'The keys a token may mint',
          description: 'The token comes as `Authorization: Bearer`; a token in the query string is refused (URLs get logged).',
          security: [{ bearer: [] }],
          parameters: [{ name: 'idpName', in: 'query', required: false, description: 'must name the IdP that issued the token', schema: { type: 'string' } }],
          responses: {
            '200': json('what the token may mint', '#/components/schemas/KeysResponse', ['X-Request-Id', 'Server-Timing']),
            ...refs([400, 401, 403, 429, 500, 503]),
          },
        },
      },
      '/credentials/idp-providers': {
        get: {
          operationId: 'listIdpProviders',
          tags: ['credentials'],
          summary: 'The configured client IdPs',
          responses: { '200': json('every configured client IdP', '#/components/schemas/IdpProviders'), ...refs([500]) },
        },
      },
      '/health': {
        get: { operationId: 'health', tags: ['operations'], summary: 'Serving (Voidkey\'s shape)', responses: { '200': json('the broker serves', '#/components/schemas/Health') } },
      },
      '/healthz': {
        get: { operationId: 'healthz', tags: ['operations'], summary: 'Alive: the process serves HTTP', responses: { '200': json('alive', '#/components/schemas/Healthz') } },
      },
      '/readyz': {
        get: {
          operationId: 'readyz',
          tags: ['operations'],
          summary: 'Ready: config loaded, every IdP\'s keys cached or fetchable, audit writable',
          responses: { '200': json('ready', '#/components/schemas/Readyz'), '503': json('not ready, or draining', '#/components/schemas/Readyz') },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          tags: ['operations'],
          summary: 'Prometheus metrics (text exposition format 0.0.4)',
          responses: { '200': { description: 'the broker\'s metrics', headers: header('X-Request-Id'), content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      '/.well-known/openid-configuration': {
        get: {
          operationId: 'issuerDiscovery',
          tags: ['issuer'],
          summary: 'The broker\'s own issuer (brokerIdentity): OpenID Connect discovery document',
          description: 'Clouds that trust the broker\'s issuer read this, then the JWKS. 404 when the config has no brokerIdentity.',
          responses: { '200': json('the discovery document (cacheable)', '#/components/schemas/IssuerDiscovery', ['X-Request-Id', 'Cache-Control']), ...refs([404]) },
        },
      },
      '/.well-known/jwks.json': {
        get: {
          operationId: 'issuerJwks',
          tags: ['issuer'],
          summary: 'The public keys of the broker\'s own issuer (every configured signing key)',
          responses: { '200': json('the JWKS (cacheable)', '#/components/schemas/IssuerJwks', ['X-Request-Id', 'Cache-Control']), ...refs([404]) },
        },
      },
      '/oauth2/token': {
        post: {
          operationId: 'tokenExchange',
          tags: ['token-exchange'],
          summary: 'RFC 8693 token exchange: the caller\'s OIDC token for one key\'s token (GCP, Azure, broker-jwt)',
          description:
            'The same verification, matching, policy and audit as a mint of one key. Errors are RFC 6749 §5.2 JSON (OAuthError), not the broker envelope: invalid_request 400 (also 405/413/415 from the HTTP layer), invalid_grant 400 (the subject token), invalid_target 400 (not a key, or a key that is not one token: key_not_exchangeable) or 403 (not granted), invalid_scope 400, unsupported_grant_type 400, temporarily_unavailable 429/503, server_error 502/504. docs/token-exchange.md.',
          requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: { $ref: '#/components/schemas/TokenExchangeRequest' } } } },
          responses: {
            '200': json('the key\'s token (Cache-Control: no-store)', '#/components/schemas/TokenExchangeResponse', ['X-Request-Id', 'Cache-Control', 'Server-Timing']),
            ...Object.fromEntries([400, 403, 405, 408, 413, 415, 429, 431, 500, 502, 503, 504].map((status) => [String(status), oauthError(status)])),
          },
        },
      },
      '/.well-known/oauth-authorization-server': {
        get: {
          operationId: 'authorizationServerMetadata',
          tags: ['token-exchange'],
          summary: 'RFC 8414 metadata: the token endpoint and the grant it speaks',
          description: 'URLs are built on brokerIdentity.issuer (the broker\'s public URL); 404 when the config has no brokerIdentity.',
          responses: { '200': json('the metadata document', '#/components/schemas/AuthorizationServerMetadata'), ...refs([404]) },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          tags: ['operations'],
          summary: 'This document',
          responses: { '200': { description: 'the OpenAPI 3.1 document of this broker', headers: header('X-Request-Id'), content: { 'application/json': { schema: { type: 'object' } } } } },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'the caller\'s OIDC token' } },
      schemas: {
        MintRequest: MINT_BODY_SCHEMA,
        MintResponse: MINT_RESPONSE_SCHEMA,
        KeysResponse: KEYS_RESPONSE_SCHEMA,
        IdpProviders: IDP_PROVIDERS_SCHEMA,
        Health: HEALTH_SCHEMA,
        Healthz: HEALTHZ_SCHEMA,
        Readyz: READYZ_SCHEMA,
        IssuerDiscovery: {
          type: 'object',
          required: ['issuer', 'jwks_uri', 'id_token_signing_alg_values_supported'],
          properties: {
            issuer: { type: 'string' },
            jwks_uri: { type: 'string' },
            id_token_signing_alg_values_supported: { type: 'array', items: { type: 'string' } },
          },
        },
        IssuerJwks: {
          type: 'object',
          required: ['keys'],
          properties: { keys: { type: 'array', items: { type: 'object', required: ['kty', 'kid', 'alg', 'use'], properties: { kty: { type: 'string' }, kid: { type: 'string' }, alg: { type: 'string' }, use: { const: 'sig' } } } } },
        },
        TokenExchangeRequest: {
          type: 'object',
          required: ['grant_type', 'subject_token', 'subject_token_type'],
          properties: {
            grant_type: { const: 'urn:ietf:params:oauth:grant-type:token-exchange' },
            subject_token: { type: 'string', description: 'the caller\'s OIDC token' },
            subject_token_type: { enum: ['urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:token-type:id_token'] },
            resource: { type: 'string', pattern: '^urn:voidkey:key:', description: 'urn:voidkey:key:<KEY> (or audience)' },
            audience: { type: 'string', description: 'the key name (or resource)' },
            scope: { type: 'string', description: 'space-separated; each must be among the key\'s scopes' },
            requested_token_type: { enum: ['urn:ietf:params:oauth:token-type:access_token', 'urn:ietf:params:oauth:token-type:jwt'] },
          },
        },
        TokenExchangeResponse: {
          type: 'object',
          additionalProperties: false,
          required: ['access_token', 'issued_token_type', 'token_type', 'expires_in'],
          properties: { access_token: { type: 'string' }, issued_token_type: { type: 'string' }, token_type: { const: 'Bearer' }, expires_in: { type: 'integer', minimum: 0 }, scope: { type: 'string', description: 'the key\'s scopes, when not exactly those requested' } },
        },
        AuthorizationServerMetadata: {
          type: 'object',
          required: ['issuer', 'token_endpoint', 'grant_types_supported'],
          properties: { issuer: { type: 'string' }, token_endpoint: { type: 'string' }, grant_types_supported: { type: 'array', items: { type: 'string' } } },
        },
        OAuthError: {
          type: 'object',
          additionalProperties: false,
          required: ['error', 'error_description', 'code', 'requestId'],
          properties: {
            error: { enum: ['invalid_request', 'invalid_grant', 'invalid_target', 'invalid_scope', 'unsupported_grant_type', 'temporarily_unavailable', 'server_error'], description: 'RFC 6749 §5.2 / RFC 8693 §2.2.2' },
            error_description: { type: 'string', description: 'for people; never a token, an upstream body or a stack' },
            code: { type: 'string', pattern: '^ERR_[A-Z_]+$', description: 'the broker\'s own code (docs/api.md) or ERR_OAUTH_<ERROR> for a refusal of the form itself' },
            requestId: { type: 'string', minLength: 1 },
          },
        },
        ...Object.fromEntries(statuses.map((status) => [`Error${status}`, errorSchema(status)])),
      },
      headers: {
        'X-Request-Id': { description: 'the caller\'s own when it sent a sane one (8-128 of A-Z a-z 0-9 . _ : -), else a new UUID', schema: { type: 'string' } },
        'Server-Timing': { description: 'upstream;dur=<ms>: how long the answer waited on access providers', schema: { type: 'string', pattern: '^upstream;dur=\\d+\\.\\d{2}$' } },
        'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'string', pattern: '^\\d+$' } },
        'WWW-Authenticate': { description: 'Bearer error="invalid_token"', schema: { type: 'string' } },
        Allow: { description: 'the method this route answers', schema: { type: 'string' } },
        'Cache-Control': { description: 'public, max-age=…: the issuer\'s documents may be cached', schema: { type: 'string' } },
      },
      responses: errorResponses,
    },
  };
  // What the HTTP layer refuses before any route runs (docs/api.md, "Every route refuses"):
  // a token or repeated header in the request (400), headers or body too slow (408), the
  // rate limit (429), headers too large (431). Every operation can answer these.
  for (const item of Object.values(document.paths) as Array<Record<string, { responses: Record<string, unknown> }>>) {
    for (const operation of Object.values(item)) Object.assign(operation.responses, refs(EVERY_ROUTE.filter((status) => !(String(status) in operation.responses))));
  }
  return document;
}

const EVERY_ROUTE = [400, 408, 429, 431];

function header(...names: string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]));
}

function json(description: string, schema: string, headers: string[] = ['X-Request-Id']): Record<string, unknown> {
  return { description, headers: header(...headers), content: { 'application/json': { schema: { $ref: schema } } } };
}

/** The token endpoint's errors: RFC 6749 §5.2 JSON, not the broker envelope. */
function oauthError(status: number): Record<string, unknown> {
  const headers = ['X-Request-Id', 'Cache-Control'];
  if (status === 429 || status === 503) headers.push('Retry-After');
  if (status === 405) headers.push('Allow');
  return { description: 'RFC 6749 §5.2 error (docs/token-exchange.md)', headers: header(...headers), content: { 'application/json': { schema: { $ref: '#/components/schemas/OAuthError' } } } };
}

function refs(statuses: number[]): Record<string, unknown> {
  return Object.fromEntries(statuses.map((status) => [String(status), { $ref: `#/components/responses/Error${status}` }]));
}

function errorResponse(status: number): Record<string, unknown> {
  const codes = errorCodes().filter((row) => row.status === status).map((row) => `\`${row.error}\``);
  const headers = ['X-Request-Id'];
  if (status === 401) headers.push('WWW-Authenticate');
  if (status === 429 || status === 503) headers.push('Retry-After');
  if (status === 405) headers.push('Allow');
  return { description: `${codes.join(', ')} (docs/api.md)`, headers: header(...headers), content: { 'application/json': { schema: { $ref: `#/components/schemas/Error${status}` } } } };
}
