import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import type { InjectOptions } from 'fastify';

export type ApiGatewayEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;

/** What `fastify.inject()` needs; `remoteAddress` becomes `request.ip`. */
export interface InjectRequest {
  readonly method: NonNullable<InjectOptions['method']>;
  readonly url: string;
  /** An array is a header sent more than once (`rawHeaders` keeps each, as node:http does). */
  readonly headers: Record<string, string | string[]>;
  readonly payload?: Buffer;
  readonly remoteAddress?: string;
}

export interface EventMappingOptions {
  /** A custom domain's API mapping (`/broker`), stripped from the path like a stage. */
  readonly basePath?: string;
  /** Sent as `X-Request-Id` when the caller sent none, so logs match Lambda's own lines. */
  readonly requestId?: string;
}

/** Headers the gateway computed for its own connection; inject() sets its own. */
const DROPPED_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

/**
 * Headers the server refuses to see twice (broker-server/request-guards.ts): repeats are
 * passed on as repeats, not joined into one value, so the Lambda path refuses them too.
 */
const SINGLE_HEADERS = new Set(['authorization', 'content-type', 'host']);

/** One set of credentials (`Bearer x`, `Basic y`); a comma-joined list of several is two headers. */
const CREDENTIALS = /^[A-Za-z][\w!#$%&'*+.^`|~-]*(?: +\S+)?$/;

/** HTTP API (payload 2.0) events carry `version: "2.0"`; REST API (1.0) events `httpMethod`. */
export function isHttpApiEvent(event: ApiGatewayEvent): event is APIGatewayProxyEventV2 {
  return (event as APIGatewayProxyEventV2).version === '2.0' && (event as APIGatewayProxyEventV2).requestContext?.http !== undefined;
}

export function isRestApiEvent(event: ApiGatewayEvent): event is APIGatewayProxyEvent {
  return typeof (event as APIGatewayProxyEvent).httpMethod === 'string' && typeof (event as APIGatewayProxyEvent).path === 'string';
}

/** Turns an API Gateway REST (v1) or HTTP API (v2) event into a request for `fastify.inject()`. */
export function eventToRequest(event: ApiGatewayEvent, options: EventMappingOptions = {}): InjectRequest {
  const v2 = isHttpApiEvent(event);
  const headers = v2 ? httpApiHeaders(event) : restApiHeaders(event);
  if (options.requestId && headers['x-request-id'] === undefined) headers['x-request-id'] = options.requestId;
  const stage = event.requestContext.stage;
  const path = stripPrefix(stripPrefix(v2 ? event.rawPath : event.path, options.basePath), stage && stage !== '$default' ? `/${stage}` : undefined);
  const query = v2 ? event.rawQueryString : restApiQuery(event);
  const body = event.body ?? undefined;
  return {
    method: (v2 ? event.requestContext.http.method : event.httpMethod).toUpperCase() as InjectRequest['method'],
    url: query ? `${path}?${query}` : path,
    headers,
    ...(body !== undefined && body !== '' ? { payload: Buffer.from(body, event.isBase64Encoded ? 'base64' : 'utf8') } : {}),
    ...sourceIp(v2 ? event.requestContext.http.sourceIp : event.requestContext.identity?.sourceIp),
  };
}

/**
 * An HTTP API's `rawPath` keeps a named stage (`/prod/health`); a REST API's `path` does
 * not, unless a custom domain maps it so. Either way the prefix is taken off once.
 */
function stripPrefix(path: string, prefix: string | undefined): string {
  const clean = prefix?.replace(/\/+$/, '');
  if (!clean || clean === '/') return path || '/';
  if (path === clean) return '/';
  return path.startsWith(`${clean}/`) ? path.slice(clean.length) : path || '/';
}

function httpApiHeaders(event: APIGatewayProxyEventV2): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    const lower = name.toLowerCase();
    if (value !== undefined && !DROPPED_HEADERS.has(lower)) headers[lower] = value;
  }
  // Payload 2.0 comma-joins a repeated header. No credentials contain a comma, so an
  // Authorization value that splits into several credentials was sent more than once.
  const authorization = headers.authorization;
  if (typeof authorization === 'string' && authorization.includes(',')) {
    const parts = authorization.split(',').map((part) => part.trim());
    if (parts.every((part) => CREDENTIALS.test(part))) headers.authorization = parts;
  }
  // Payload 2.0 moves cookies out of the headers.
  if (event.cookies?.length) headers.cookie = event.cookies.join('; ');
  return headers;
}

function restApiHeaders(event: APIGatewayProxyEvent): Record<string, string | string[]> {
  // Grouped by lower-cased name: `Authorization` and `authorization` are one header sent twice.
  // `multiValueHeaders` holds every value; `headers` only the last, so it counts only for
  // a name the other lacks.
  const grouped = new Map<string, string[]>();
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    const lower = name.toLowerCase();
    if (!DROPPED_HEADERS.has(lower) && values) grouped.set(lower, [...(grouped.get(lower) ?? []), ...values]);
  }
  const fromMulti = new Set(grouped.keys());
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    const lower = name.toLowerCase();
    if (!DROPPED_HEADERS.has(lower) && !fromMulti.has(lower) && value !== undefined) grouped.set(lower, [...(grouped.get(lower) ?? []), value]);
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, values] of grouped) {
    if (values.length === 0) continue;
    headers[name] = values.length > 1 && SINGLE_HEADERS.has(name) ? values : values.join(name === 'cookie' ? '; ' : ', ');
  }
  return headers;
}

/** REST API events carry decoded parameters; they are encoded again for the URL. */
function restApiQuery(event: APIGatewayProxyEvent): string {
  const params = new URLSearchParams();
  const multi = event.multiValueQueryStringParameters;
  if (multi) {
    for (const [name, values] of Object.entries(multi)) for (const value of values ?? []) params.append(name, value);
  } else {
    for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) if (value !== undefined) params.append(name, value);
  }
  return params.toString();
}

/**
 * The gateway's view of the caller becomes the socket address, so `request.ip` (rate
 * limits, audit) is the address API Gateway saw, not a header the caller can write.
 */
function sourceIp(address: string | undefined): { remoteAddress?: string } {
  return address ? { remoteAddress: address } : {};
}
