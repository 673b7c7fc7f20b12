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
