import type { APIGatewayProxyResult, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { LightMyRequestResponse } from 'fastify';

/** Hop-by-hop and length headers belong to the gateway's own connection. */
const DROPPED_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

/** Bodies sent as text; everything else crosses the gateway base64-encoded. */
const TEXT_TYPE = /^(text\/|application\/(json|xml|javascript|problem\+json|[\w.+-]+\+(json|xml))\b)/i;

type HeaderValue = string | string[];

/** The parts of an injected response a gateway result is built from. */
export interface InjectedResponse {
  readonly statusCode: number;
  readonly headers: LightMyRequestResponse['headers'];
  readonly rawPayload: Buffer;
}

export function toRestApiResult(response: InjectedResponse): APIGatewayProxyResult {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, value] of responseHeaders(response)) {
    if (Array.isArray(value)) multiValueHeaders[name] = value;
    else headers[name] = value;
  }
  return {
    statusCode: response.statusCode,
    headers,
    ...(Object.keys(multiValueHeaders).length > 0 ? { multiValueHeaders } : {}),
    ...encodeBody(response),
  };
}

export function toHttpApiResult(response: InjectedResponse): APIGatewayProxyStructuredResultV2 {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of responseHeaders(response)) {
    // Payload 2.0 takes cookies apart from the headers; other repeats are comma-joined.
    if (name === 'set-cookie') cookies = Array.isArray(value) ? value : [value];
    else headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return { statusCode: response.statusCode, headers, ...(cookies ? { cookies } : {}), ...encodeBody(response) };
}

function* responseHeaders(response: InjectedResponse): Generator<[string, HeaderValue]> {
  for (const [name, value] of Object.entries(response.headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || DROPPED_HEADERS.has(lower)) continue;
    yield [lower, Array.isArray(value) ? value.map(String) : String(value)];
  }
}

function encodeBody(response: InjectedResponse): { body: string; isBase64Encoded: boolean } {
  const type = response.headers['content-type'];
  const text = response.rawPayload.length === 0 || (typeof type === 'string' && TEXT_TYPE.test(type) && !/charset=(?!utf-?8\b)/i.test(type));
  return text ? { body: response.rawPayload.toString('utf8'), isBase64Encoded: false } : { body: response.rawPayload.toString('base64'), isBase64Encoded: true };
}
