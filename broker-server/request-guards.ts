import { isUtf8 } from 'node:buffer';
import type { FastifyRequest } from 'fastify';
import { RequestInvalid } from '../broker-core';
import { jsonShapeProblem, MAX_JSON_DEPTH } from '../broker-core/token/json-duplicates';
import { HttpRefusal, OAuthRefusal } from './error-filter';

/**
 * Headers with one meaning per request: two of them are ambiguous (node:http keeps the
 * first, a proxy in front may have acted on the last), so the request is refused. RFC
 * 9112 §3.2 asks the same of Host.
 */
const SINGLE_HEADERS: Readonly<Record<string, string>> = {
  authorization: 'Authorization',
  'content-type': 'Content-Type',
  'content-length': 'Content-Length',
  host: 'Host',
};

export function refuseDuplicateHeaders(request: FastifyRequest): void {
  const raw = request.raw.rawHeaders;
  const seen = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!Object.hasOwn(SINGLE_HEADERS, name)) continue;
    if (seen.has(name)) throw new RequestInvalid(`the request has more than one ${SINGLE_HEADERS[name]} header`);
    seen.add(name);
  }
}

/** Query parameter names that carry a token, compared without case, `_` or `-` (`Access_Token`, `id-token`). */
const TOKEN_PARAMETERS = new Set(['token', 'oidctoken', 'accesstoken', 'idtoken', 'subjecttoken', 'actortoken', 'jwt', 'bearer', 'authorization', 'assertion', 'clientassertion']);
/** A compact JWS or JWE, whatever the parameter is called. */
const LOOKS_LIKE_JWT = /^eyJ[\w-]*(\.[\w-]*){2,4}$/;

/**
 * RFC 6750 §5.3: a bearer token in a URL ends up in access logs, proxies and browser
 * history, so a request carrying one is refused on every route, before anything else reads it.
 */
export function refuseTokenInQuery(request: FastifyRequest): void {
  const query = request.query as Record<string, unknown> | null | undefined;
  if (!query || typeof query !== 'object') return;
  for (const [name, value] of Object.entries(query)) {
    const values = Array.isArray(value) ? value : [value];
    if (TOKEN_PARAMETERS.has(name.toLowerCase().replace(/[^a-z0-9]/g, '')) || LOOKS_LIKE_JWT.test(name) || values.some((one) => typeof one === 'string' && LOOKS_LIKE_JWT.test(one))) {
      throw new RequestInvalid('a token in the query string is refused (URLs get logged); use the Authorization header');
    }
  }
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

/**
 * The body of an `application/json` request: RFC 8259 JSON is UTF-8, and the bytes must be
 * UTF-8 (a decoder would silently put U+FFFD where they are not), parse, name each member
 * once and nest no deeper than MAX_JSON_DEPTH. An empty body is no body.
 */
export function parseJsonBody(contentType: string | undefined, bytes: Buffer): unknown {
  const charset = CHARSET.exec(contentType ?? '')?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) throw new HttpRefusal(415, 'send the request body as application/json in UTF-8');
  if (!isUtf8(bytes)) throw new RequestInvalid('the request body is not valid UTF-8');
  const text = bytes.toString('utf8');
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RequestInvalid('the request body is not valid JSON');
  }
  const problem = jsonShapeProblem(text);
  if (problem === 'duplicate_members') throw new RequestInvalid('the request body has duplicate member names');
  if (problem === 'too_deep') throw new RequestInvalid(`the request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  return parsed;
}

/**
 * The body of an `application/x-www-form-urlencoded` request (the token endpoint): UTF-8,
 * each parameter at most once (RFC 6749 §3.2: a repeated parameter is ambiguous).
 */
export function parseFormBody(contentType: string | undefined, bytes: Buffer): ReadonlyMap<string, string> {
  const charset = CHARSET.exec(contentType ?? '')?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) throw new HttpRefusal(415, 'send the request body as application/x-www-form-urlencoded in UTF-8');
  if (!isUtf8(bytes)) throw new OAuthRefusal('invalid_request', 'the request body is not valid UTF-8');
  const form = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(bytes.toString('utf8'))) {
    if (form.has(name)) throw new OAuthRefusal('invalid_request', /^[a-z_]{1,32}$/.test(name) ? `the '${name}' parameter appears more than once` : 'a parameter appears more than once');
    form.set(name, value);
  }
  return form;
}
