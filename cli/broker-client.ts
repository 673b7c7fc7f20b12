import { BrokerRefused, BrokerUnreachable, UnexpectedResponse, UsageError, type BrokerErrorBody } from './errors';
import { describeCauses, fetchWithRetry, NoAnswer, type Deadline, type RetryPolicy } from './fetch-with-retry';
import { CLI_VERSION } from './version';

/** The body of `POST /credentials/mint`. The token travels in `Authorization`, never here. */
export interface MintRequest {
  readonly keys?: readonly string[];
  readonly all?: boolean;
  readonly duration?: number;
  readonly idpName?: string;
}

export interface MintedKeyMetadata {
  readonly provider: string;
  readonly type: string;
  readonly identity: string;
  readonly credentialId?: string;
  /** Env name → provider field (`AWS_ACCESS_KEY_ID` → `AccessKeyId`); credential-process needs it. */
  readonly fields?: Readonly<Record<string, string>>;
}

export interface MintedKey {
  readonly credentials: Readonly<Record<string, string>>;
  readonly expiresAt: string;
  readonly metadata: MintedKeyMetadata;
}

/** Key name → what was minted for it: the flat map Voidkey's CLI parses. */
export type MintResponse = Readonly<Record<string, MintedKey>>;

export interface TokenExchangeAnswer {
  readonly access_token: string;
  readonly issued_token_type: string;
  readonly token_type: string;
  readonly expires_in: number;
  readonly scope?: string;
}

export interface KeyInfo {
  readonly name: string;
  readonly provider: string;
  readonly type: string;
  readonly identity: string;
  readonly outputs: readonly string[];
  readonly duration: { readonly default: number; readonly min: number; readonly max: number };
}

export interface KeysResponse {
  readonly idp: string;
  readonly subject: string;
  readonly identities: readonly string[];
  readonly keys: readonly KeyInfo[];
}

export interface IdpInfo {
  readonly name: string;
  readonly isDefault: boolean;
}

export interface BrokerClientOptions {
  readonly baseUrl: URL;
  readonly fetch: typeof fetch;
  readonly deadline: Deadline;
  readonly retry?: RetryPolicy;
  readonly debug?: (message: string) => void;
}

/** The broker's HTTP API (DESIGN.md), nothing more. */
export class BrokerClient {
  constructor(private readonly options: BrokerClientOptions) {}

  async mint(token: string, request: MintRequest): Promise<MintResponse> {
    const body = await this.call('POST', 'credentials/mint', token, request);
    return checkMintResponse(body);
  }

  /** RFC 8693 token exchange of one key (POST /oauth2/token, form-encoded); the answer as the broker sent it. */
  async exchange(token: string, key: string, options: { scope?: string; requestedTokenType?: string } = {}): Promise<TokenExchangeAnswer> {
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: token,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      resource: `urn:voidkey:key:${key}`,
    });
    if (options.scope !== undefined) form.set('scope', options.scope);
    if (options.requestedTokenType !== undefined) form.set('requested_token_type', options.requestedTokenType);
    const body = await this.call('POST', 'oauth2/token', undefined, form);
    if (!isObject(body) || typeof body.access_token !== 'string' || typeof body.issued_token_type !== 'string' || typeof body.expires_in !== 'number') {
      throw new UnexpectedResponse('the broker answered POST /oauth2/token with an unexpected body');
    }
    return body as unknown as TokenExchangeAnswer;
  }

  async listKeys(token: string): Promise<KeysResponse> {
    const body = await this.call('GET', 'credentials/keys', token);
    return checkKeysResponse(body);
  }

  async listIdps(): Promise<IdpInfo[]> {
    const body = await this.call('GET', 'credentials/idp-providers');
    if (!Array.isArray(body) || !body.every((idp) => isObject(idp) && typeof idp.name === 'string')) {
      throw new UnexpectedResponse('the broker answered GET /credentials/idp-providers with an unexpected body');
    }
    return body.map((idp: Record<string, unknown>) => ({ name: idp.name as string, isDefault: idp.isDefault === true }));
  }

  private async call(method: 'GET' | 'POST', route: string, token?: string, payload?: unknown): Promise<unknown> {
    const form = payload instanceof URLSearchParams;
    const { baseUrl, debug } = this.options;
    const url = new URL(route, baseUrl);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `voidkey-cli/${CLI_VERSION}` };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (payload !== undefined) headers['content-type'] = form ? 'application/x-www-form-urlencoded' : 'application/json';
    const started = Date.now();
    let response: Response;
    try {
      response = await fetchWithRetry(
        url,
        { method, headers, body: payload === undefined ? undefined : form ? payload.toString() : JSON.stringify(payload) },
        { fetch: this.options.fetch, deadline: this.options.deadline, retry: this.options.retry, debug },
      );
    } catch (err) {
      throw unreachable(err, url);
    }
    const requestId = response.headers.get('x-request-id') ?? undefined;
    debug?.(`${method} ${url.href} → ${response.status} in ${Date.now() - started} ms${requestId ? ` [request id: ${requestId}]` : ''}`);

    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => undefined);
      throw new UsageError(
        `the broker URL redirects (HTTP ${response.status}${response.headers.get('location') ? ` to ${response.headers.get('location')}` : ''}); pass the final URL as --broker-url`,
      );
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw unreachable(err, url);
    }
    const body = parseJson(text);
    if (response.status >= 200 && response.status < 300) {
      if (body === undefined) {
        throw new UnexpectedResponse(`the broker answered ${method} /${route} with a body that is not JSON`, `content-type: ${response.headers.get('content-type')}`);
      }
      return body;
    }
    // A non-JSON error (a proxy's HTML page) is reported by status alone: its text is not ours to print.
    // The token endpoint answers RFC 6749 errors: error_description is its message.
    const refusal = isObject(body) ? ({ ...body, ...(typeof body.error_description === 'string' && body.message === undefined ? { message: body.error_description } : {}) } as BrokerErrorBody) : {};
    throw new BrokerRefused(response.status, refusal, requestId, response.headers.get('retry-after') ?? undefined);
  }
}

function unreachable(err: unknown, url: URL): Error {
  if (err instanceof NoAnswer) {
    const what = err.kind === 'timeout' ? `no answer from the broker at ${url.origin} within the timeout (--timeout)` : `cannot reach the broker at ${url.origin}: ${err.message}`;
    return new BrokerUnreachable(what, describeCauses(err), { cause: err });
  }
  return new BrokerUnreachable(`the connection to the broker at ${url.origin} failed`, describeCauses(err), { cause: err });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isStringMap(value: unknown): value is Record<string, string> {
  return isObject(value) && Object.values(value).every((v) => typeof v === 'string');
}

/** Shape checks only; messages name keys and fields, never values. */
export function checkMintResponse(body: unknown): MintResponse {
  const bad = (why: string) => new UnexpectedResponse(`the broker's mint response is not what this CLI expects: ${why}`);
  if (!isObject(body)) throw bad('not an object');
  for (const [key, minted] of Object.entries(body)) {
    if (!isObject(minted)) throw bad(`${key} is not an object`);
    if (!isStringMap(minted.credentials)) throw bad(`${key}.credentials is not a map of strings`);
    if (typeof minted.expiresAt !== 'string') throw bad(`${key}.expiresAt is not a string`);
    if (!isObject(minted.metadata)) throw bad(`${key}.metadata is not an object`);
    if (minted.metadata.fields !== undefined && !isStringMap(minted.metadata.fields)) throw bad(`${key}.metadata.fields is not a map of strings`);
  }
  return body as unknown as MintResponse;
}

function checkKeysResponse(body: unknown): KeysResponse {
  const bad = (why: string) => new UnexpectedResponse(`the broker's key list is not what this CLI expects: ${why}`);
  if (!isObject(body)) throw bad('not an object');
  if (!Array.isArray(body.keys)) throw bad('keys is not a list');
  for (const key of body.keys) {
    if (!isObject(key) || typeof key.name !== 'string') throw bad('a key has no name');
  }
  return body as unknown as KeysResponse;
}
