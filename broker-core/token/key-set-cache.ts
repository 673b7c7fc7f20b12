import type { KeyObject } from 'node:crypto';
import type { JWK, JWSHeaderParameters } from 'jose';
import type { Clock } from '../clock';
import { BrokerError, IdpTimeout, IdpUnavailable, TokenKeyNotFound } from '../errors';
import { HttpError, type HttpClient } from '../http';
import { importPublicJwk, keyFitsAlgorithm, MIN_RSA_BITS } from './jws';

export interface KeySetOptions {
  readonly idpName: string;
  readonly issuer: string;
  /** When absent, the JWKS URL comes from the issuer's discovery document. */
  readonly jwksUri?: string;
  readonly http: HttpClient;
  readonly clock: Clock;
  readonly timeoutMs: number;
  /** After this age the key set is refreshed before use. */
  readonly cacheMs: number;
  /** An unknown `kid` triggers at most one refetch per cooldown. */
  readonly cooldownMs: number;
  /** How long past `cacheMs` known keys keep working while the IdP cannot be reached. */
  readonly staleMs: number;
  /** Validates a discovered `jwks_uri` (https rule); returns a problem or undefined. */
  readonly checkUrl: (url: string) => string | undefined;
  readonly observer?: KeySetObserver;
}

export interface KeySetObserver {
  fetched(idpName: string, outcome: 'ok' | 'error'): void;
  cacheHit(idpName: string): void;
}

const MAX_JWKS_BYTES = 256 * 1024;
const UNAVAILABLE_MESSAGE = 'the token issuer\'s signing keys cannot be fetched right now';

interface CachedKey {
  readonly jwk: JWK;
  /** Imported once, when the key set is read. */
  readonly key: KeyObject;
}

/**
 * One IdP's signing keys: fetched once, shared by every request, refreshed when old,
 * refetched (rate-limited) for an unknown `kid`, and kept usable from cache while the
 * IdP is down. Concurrent callers share one in-flight fetch, and after a failed fetch
 * the next waits for the cooldown.
 */
export class KeySetCache {
  private keys: CachedKey[] = [];
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  /** Operator detail of the last attempt when it failed; undefined after a success. */
  private lastFailure?: string;
  private inflight?: Promise<void>;
  private jwksUri?: string;

  constructor(private readonly options: KeySetOptions) {
    this.jwksUri = options.jwksUri;
  }

  get loaded(): boolean {
    return this.fetchedAt !== Number.NEGATIVE_INFINITY;
  }

  /**
   * The verification keys for a token header, fetching the key set when needed: every
   * key under the token's `kid` that fits its algorithm (a JWKS may publish several under
   * one `kid`; the verifier tries each), or the one key that fits when there is no `kid`.
   */
  async keysFor(header: JWSHeaderParameters): Promise<readonly KeyObject[]> {
    const now = this.options.clock();
    if (!this.loaded || now - this.fetchedAt > this.options.cacheMs + this.options.staleMs) {
      // Nothing cached vouches for any key: this request needs the key set.
      await this.load();
    } else if (now - this.fetchedAt > this.options.cacheMs) {
      // Old but not stale: the known keys answer now and the set is refreshed behind them,
      // at most once per cooldown, so no request waits on the IdP, let alone a failing one.
      if (now - this.attemptedAt >= this.options.cooldownMs) this.refresh().catch(() => undefined);
    } else {
      this.options.observer?.cacheHit(this.options.idpName);
    }
    let keys = this.find(header);
    // A kid the cached set lacks may be a new key: one refetch per cooldown (joined while in
    // flight). While the last fetch failed, an unknown kid cannot be told from a new key, so
    // it is 503, not 401.
    if (keys.length === 0 && (this.inflight !== undefined || this.lastFailure !== undefined || this.options.clock() - this.attemptedAt >= this.options.cooldownMs)) {
      await this.load();
      keys = this.find(header);
    }
    if (keys.length === 0) {
      throw new TokenKeyNotFound('no signing key of the issuer matches the token', {
        detail: `idp ${this.options.idpName}: no usable key for kid=${String(header.kid)} alg=${String(header.alg)}`,
      });
    }
    return keys.map((k) => k.key);
  }

  /**
   * For readiness probes: true while the cached keys still verify; otherwise the answer of
   * a fetch, made at most once per cooldown however often the probe asks.
   */
  async ready(): Promise<boolean> {
    if (this.loaded && this.options.clock() - this.fetchedAt <= this.options.cacheMs + this.options.staleMs) return true;
    return this.load().then(
      () => true,
      () => false,
    );
  }

  /** Fetches the key set now (single-flight). Rejects with IdpUnavailable or IdpTimeout. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * Joins the fetch in flight or starts one, unless the last attempt failed less than a
   * cooldown ago: then it fails fast without touching the IdP. A failing JWKS endpoint
   * therefore sees one request per cooldown whatever the request rate.
   */
  private async load(): Promise<void> {
    if (this.inflight) return this.inflight;
    const wait = this.attemptedAt + this.options.cooldownMs - this.options.clock();
    if (this.lastFailure !== undefined && wait > 0) {
      throw new IdpUnavailable(UNAVAILABLE_MESSAGE, {
        detail: `${this.lastFailure}; next attempt in ${Math.ceil(wait / 1000)} s`,
        retryAfterSeconds: Math.ceil(wait / 1000),
      });
    }
    return this.refresh();
  }

  private async fetchKeys(): Promise<void> {
    this.attemptedAt = this.options.clock();
    try {
      const jwksUri = this.jwksUri ?? (await this.discoverJwksUri());
      const body = await this.getJson(jwksUri, 'JWKS');
      const keys = (body as { keys?: unknown }).keys;
      // Only an array is a key set (an empty one is authoritative); `null` or no `keys` is a failed fetch.
      if (!Array.isArray(keys)) throw this.unavailable('the JWKS has no "keys" array');
      // A key that is not a well-formed public key is skipped, as if it were not published.
      this.keys = keys.filter(isUsableSigningKey).flatMap((jwk) => {
        const key = importPublicJwk(jwk);
        return key ? [{ jwk, key }] : [];
      });
      this.fetchedAt = this.options.clock();
      this.lastFailure = undefined;
      this.options.observer?.fetched(this.options.idpName, 'ok');
    } catch (err) {
      this.lastFailure = err instanceof BrokerError && err.detail !== undefined ? err.detail : `idp ${this.options.idpName}: the key set could not be read`;
      this.options.observer?.fetched(this.options.idpName, 'error');
      throw err;
    }
  }

  private async discoverJwksUri(): Promise<string> {
    const url = `${this.options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const doc = (await this.getJson(url, 'discovery document')) as { issuer?: unknown; jwks_uri?: unknown };
    if (doc.issuer !== this.options.issuer) throw this.unavailable(`the discovery document names issuer ${JSON.stringify(doc.issuer)}`);
    if (typeof doc.jwks_uri !== 'string') throw this.unavailable('the discovery document has no jwks_uri');
    const problem = this.options.checkUrl(doc.jwks_uri);
    if (problem) throw this.unavailable(`the discovered jwks_uri ${problem}`);
    // Whoever can change the discovery document must not be able to point the broker at
    // keys served elsewhere; an IdP that does serve them elsewhere is named in the config.
    const origin = new URL(doc.jwks_uri).origin; // an absolute URL: checkUrl passed it
    if (origin !== URL.parse(this.options.issuer)?.origin) {
      throw this.unavailable(`the discovered jwks_uri is on ${origin}, another origin than the issuer; set the IdP's jwksUri to trust it`);
    }
    this.jwksUri = doc.jwks_uri;
    return doc.jwks_uri;
  }

  private async getJson(url: string, what: string): Promise<unknown> {
    let response;
    try {
      response = await this.options.http.request({
        method: 'GET',
        url,
        headers: { accept: 'application/json' },
        timeoutMs: this.options.timeoutMs,
        maxBytes: MAX_JWKS_BYTES,
      });
    } catch (err) {
      const failure = err instanceof HttpError ? err.failure : 'network';
      if (failure === 'timeout') {
        throw new IdpTimeout('the token issuer did not answer in time', {
          detail: `idp ${this.options.idpName}: the ${what} did not answer within ${this.options.timeoutMs} ms`,
          cause: err,
        });
      }
      throw this.unavailable(`fetching the ${what} failed (${failure})`, err);
    }
    if (response.status !== 200) throw this.unavailable(`the ${what} answered HTTP ${response.status}`);
    try {
      const body: unknown = JSON.parse(response.body);
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('not an object');
      return body;
    } catch (err) {
      throw this.unavailable(`the ${what} is not a JSON object`, err);
    }
  }

  private unavailable(detail: string, cause?: unknown): IdpUnavailable {
    return new IdpUnavailable(UNAVAILABLE_MESSAGE, {
      detail: `idp ${this.options.idpName}: ${detail}`,
      cause,
      // No new attempt is made before the cooldown has passed.
      retryAfterSeconds: Math.max(1, Math.ceil(this.options.cooldownMs / 1000)),
    });
  }

  private find(header: JWSHeaderParameters): readonly CachedKey[] {
    const alg = header.alg;
    if (!alg) return [];
    const candidates = this.keys.filter(
      (k) => (header.kid === undefined || k.jwk.kid === header.kid) && (k.jwk.alg === undefined || k.jwk.alg === alg) && keyFitsAlgorithm(k.key, alg),
    );
    // Without a kid the choice must be unambiguous.
    return header.kid === undefined && candidates.length > 1 ? [] : candidates;
  }
}

/** Only public keys fit for signature verification: no `oct`, no `use: enc`, RSA ≥ 2048 bits. */
export function isUsableSigningKey(value: unknown): value is JWK {
  if (value === null || typeof value !== 'object') return false;
  const jwk = value as JWK;
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC' && jwk.kty !== 'OKP') return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return false;
  if (jwk.d !== undefined) return false; // a private key published by mistake is not trusted either
  if (jwk.kty === 'RSA') {
    if (typeof jwk.n !== 'string') return false;
    const bits = Math.floor((jwk.n.replace(/=+$/, '').length * 6) / 8) * 8;
    if (bits < MIN_RSA_BITS) return false;
  }
  return true;
}
