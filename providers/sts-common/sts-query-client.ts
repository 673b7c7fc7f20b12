import { HttpError, ProviderBadResponse, ProviderTimeout, ProviderUnavailable, type BrokerError, type HttpClient } from '../../broker-core';
import { translateStsError } from './sts-errors';
import { parseXmlDocument } from './xml';

/** STS answers are a few KiB; anything past this is refused unread (see docs/security.md). */
export const MAX_STS_ANSWER_BYTES = 64 * 1024;

/** The unsigned calls of the STS Query protocol, as `@aws-sdk/client-sts` sends them. */
export type StsQueryParams = ReadonlyArray<readonly [string, string | number | undefined]>;

export interface StsAnswer {
  readonly result: Readonly<Record<string, unknown>>;
  readonly requestId?: string;
}

/** Parameters in the SDK's order, encoded as the SDK does (`!'()*` escaped too). */
export function stsQueryBody(action: string, params: StsQueryParams): string {
  let body = `Action=${action}&Version=2011-06-15`;
  for (const [name, value] of params) {
    if (value !== undefined) body += `&${encode(name)}=${encode(String(value))}`;
  }
  return body;
}

/** RFC 3986 unreserved characters: what encoding leaves as is (a JWT is all of them). */
const UNRESERVED = /^[A-Za-z0-9._~-]*$/;

function encode(text: string): string {
  if (UNRESERVED.test(text)) return text;
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * One STS Query call through the broker's keep-alive HTTP client: a POST of the form
 * body, a deadline covering headers and body alike (an answer that stalls half-way is cut
 * off), and an answer larger than `MAX_STS_ANSWER_BYTES` refused without buffering more.
 */
export async function callSts(
  http: HttpClient,
  url: string,
  action: string,
  body: string,
  options: { readonly timeoutMs: number; readonly signal: AbortSignal; readonly flavor: string },
): Promise<StsAnswer> {
  const { flavor } = options;
  let response;
  try {
    response = await http.request({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
      timeoutMs: options.timeoutMs,
      maxBytes: MAX_STS_ANSWER_BYTES,
      signal: options.signal,
    });
  } catch (err) {
    throw transportError(err, flavor);
  }
  const requestId = response.headers['x-amzn-requestid'] ?? response.headers['x-amz-request-id'];
  const document = parseXml(response.body);
  if (response.status !== 200) {
    const error = record(record(document?.ErrorResponse)?.Error) ?? record(record(document?.Error));
    const code = typeof error?.Code === 'string' ? error.Code : undefined;
    throw translateStsError({ name: code ?? 'Unknown', $metadata: { httpStatusCode: response.status, requestId: record(document?.ErrorResponse)?.RequestId ?? requestId } }, flavor);
  }
  const result = record(record(document?.[`${action}Response`])?.[`${action}Result`]);
  if (result === undefined) {
    throw new ProviderBadResponse(`${flavor} answered with something that is not an STS response`, { detail: `${flavor}: no ${action}Result (${response.status})` });
  }
  const metadata = record(record(document?.[`${action}Response`])?.ResponseMetadata);
  return { result, requestId: typeof metadata?.RequestId === 'string' ? metadata.RequestId : requestId };
}

function parseXml(text: string): Record<string, unknown> | undefined {
  // STS never sends a DTD: one here could only be an attempt at entity expansion.
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) return undefined;
  try {
    return record(parseXmlDocument(text));
  } catch {
    return undefined;
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function transportError(err: unknown, flavor: string): BrokerError {
  if (!(err instanceof HttpError)) return translateStsError(err, flavor);
  switch (err.failure) {
    case 'timeout':
    case 'aborted':
      return new ProviderTimeout(`${flavor} did not answer in time`, { detail: `${flavor}: ${err.failure}` });
    case 'too_large':
      return new ProviderBadResponse(`${flavor} answered with more than ${MAX_STS_ANSWER_BYTES} bytes`, { detail: `${flavor}: answer over ${MAX_STS_ANSWER_BYTES} bytes` });
    case 'network': {
      const code = (err.cause as { code?: unknown } | undefined)?.code;
      return new ProviderUnavailable(`${flavor} could not be reached`, {
        detail: `${flavor}: ${typeof code === 'string' && /^[A-Z_]{1,32}$/.test(code) ? code : 'network error'}`,
        retryAfterSeconds: 5,
      });
    }
  }
}
