import { decodeJwt, importPKCS8, SignJWT, type CryptoKey } from 'jose';
import type { Clock } from '../clock';
import type { BrokerIdpConfig } from '../config/types';
import { BrokerAuthFailed, BrokerAuthTimeout, BrokerAuthUnavailable } from '../errors';
import { HttpError, type HttpClient } from '../http';

export interface BrokerTokenSourceOptions {
  readonly idp: BrokerIdpConfig;
  readonly http: HttpClient;
  readonly clock: Clock;
  readonly timeoutMs: number;
  /** Reads `clientSecretFile` / `privateKeyFile` (injected: the core does no I/O). */
  readonly readFile?: (path: string) => string;
  /** Refresh this long before the token expires. */
  readonly refreshMarginMs?: number;
  readonly observer?: { tokenRequested?(outcome: 'ok' | 'error'): void };
}

interface CachedToken {
  readonly token: string;
  /** Milliseconds since the epoch after which the token is refreshed. */
  readonly refreshAt: number;
}

const MAX_RESPONSE_BYTES = 256 * 1024;

/**
 * The broker's own identity: a client-credentials token per audience, cached until
 * shortly before it expires and refreshed single-flight, so a cold herd of mints costs
 * one token request.
 */
export class BrokerTokenSource {
  private readonly cache = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly margin: number;

  constructor(private readonly options: BrokerTokenSourceOptions) {
    this.margin = options.refreshMarginMs ?? 60_000;
  }

  /** `audience` defaults to brokerIdp.audience; '' means none is sent. */
  async token(audience: string = this.options.idp.audience ?? ''): Promise<string> {
    const cached = this.cache.get(audience);
    if (cached && this.options.clock() < cached.refreshAt) return cached.token;
    let pending = this.inflight.get(audience);
    if (!pending) {
      pending = this.fetch(audience).finally(() => this.inflight.delete(audience));
      this.inflight.set(audience, pending);
    }
    return pending;
  }

  private signingKey?: { pem: string; key: Promise<CryptoKey> };

  private clientSecret(): string {
    const { idp, readFile } = this.options;
    if (idp.clientSecretFile === undefined) return idp.clientSecret ?? '';
    try {
      return readFile!(idp.clientSecretFile).replace(/\r?\n$/, '');
    } catch {
      throw new BrokerAuthFailed('the broker cannot read its client secret file', { detail: 'brokerIdp.clientSecretFile unreadable' });
    }
  }

  /** RFC 7523 client assertion: iss = sub = client id, aud = the token endpoint, short-lived, unique jti. */
  private async clientAssertion(): Promise<string> {
    const { idp, readFile, clock } = this.options;
    const alg = idp.privateKeyAlg ?? 'RS256';
    let pem: string;
    try {
      pem = readFile!(idp.privateKeyFile!);
    } catch {
      throw new BrokerAuthFailed('the broker cannot read its private key file', { detail: 'brokerIdp.privateKeyFile unreadable' });
    }
    if (this.signingKey?.pem !== pem) this.signingKey = { pem, key: importPKCS8(pem, alg) };
    let key: CryptoKey;
    try {
      key = await this.signingKey.key;
    } catch {
      this.signingKey = undefined;
      throw new BrokerAuthFailed('the broker private key is not a PKCS#8 PEM for its algorithm', { detail: `brokerIdp.privateKeyFile not a ${alg} PKCS#8 key` });
    }
    const now = Math.floor(clock() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg, ...(idp.keyId ? { kid: idp.keyId } : {}) })
      .setIssuer(idp.clientId)
      .setSubject(idp.clientId)
      .setAudience(idp.tokenEndpoint)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .setJti(crypto.randomUUID())
      .sign(key);
  }

  private async fetch(audience: string): Promise<string> {
    const { idp, http, clock, timeoutMs } = this.options;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    const method = idp.clientAuthMethod ?? 'client_secret_basic';
    if (method === 'private_key_jwt') {
      form.set('client_id', idp.clientId);
      form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      form.set('client_assertion', await this.clientAssertion());
    } else {
      const secret = this.clientSecret();
      if (method === 'client_secret_basic') {
        // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
        const user = encodeURIComponent(idp.clientId);
        const password = encodeURIComponent(secret);
        headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      } else {
        form.set('client_id', idp.clientId);
        form.set('client_secret', secret);
      }
    }
    if (audience !== '') form.set(idp.audienceParam ?? 'audience', audience);
    if (idp.scope) form.set('scope', idp.scope);

    let response;
    try {
      response = await http.request({ method: 'POST', url: idp.tokenEndpoint, headers, body: form.toString(), timeoutMs, maxBytes: MAX_RESPONSE_BYTES });
    } catch (err) {
      this.options.observer?.tokenRequested?.('error');
      const failure = err instanceof HttpError ? err.failure : 'network';
      if (failure === 'timeout') {
        throw new BrokerAuthTimeout('the broker\'s own identity provider did not answer in time', { detail: `token endpoint: no answer within ${timeoutMs} ms`, cause: err });
      }
      throw new BrokerAuthUnavailable('the broker could not reach its own identity provider', { detail: `token endpoint: ${failure}`, cause: err, retryAfterSeconds: 5 });
    }
    const requestedAt = clock();
    if (response.status >= 500 || response.status === 429) {
      this.options.observer?.tokenRequested?.('error');
      throw new BrokerAuthUnavailable('the broker\'s identity provider is unavailable', { detail: `token endpoint answered ${response.status}`, retryAfterSeconds: 5 });
    }
    let body: { access_token?: unknown; expires_in?: unknown; error?: unknown };
    try {
      body = JSON.parse(response.body) as typeof body;
    } catch {
      body = {};
    }
    if (response.status !== 200) {
      this.options.observer?.tokenRequested?.('error');
      const code = typeof body.error === 'string' && /^[a-z_]{1,64}$/.test(body.error) ? body.error : 'unknown';
      throw new BrokerAuthFailed('the broker could not authenticate itself to its identity provider', { detail: `token endpoint answered ${response.status} ${code}` });
    }
    if (typeof body.access_token !== 'string' || body.access_token === '') {
      this.options.observer?.tokenRequested?.('error');
      throw new BrokerAuthFailed('the broker\'s identity provider answered without an access token', { detail: 'token endpoint: no access_token' });
    }
    const token = body.access_token;
    this.options.observer?.tokenRequested?.('ok');
    const expiresAt = expiryOf(token, body.expires_in, requestedAt);
    const lifetime = expiresAt - requestedAt;
    // Refresh a margin before expiry; a short-lived token is refreshed at half its life.
    const refreshAt = expiresAt - Math.min(this.margin, lifetime / 2);
    if (refreshAt > requestedAt) this.cache.set(audience, { token, refreshAt });
    return token;
  }
}

/** A JWT's `exp` wins; an opaque token relies on `expires_in`; neither: five minutes. */
function expiryOf(token: string, expiresIn: unknown, now: number): number {
  try {
    const { exp } = decodeJwt(token);
    if (typeof exp === 'number') return exp * 1000;
  } catch {
    // opaque token
  }
  if (typeof expiresIn === 'number' && expiresIn > 0) return now + expiresIn * 1000;
  if (typeof expiresIn === 'string' && /^\d+$/.test(expiresIn)) return now + Number(expiresIn) * 1000;
  return now + 300_000;
}
