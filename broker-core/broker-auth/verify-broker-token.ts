import type { JWSHeaderParameters } from 'jose';
import type { Clock } from '../clock';
import type { BrokerSettings } from '../config/types';
import { checkServiceUrl } from '../config/urls';
import { BrokerAuthFailed, BrokerAuthUnavailable, IdpUnavailable } from '../errors';
import type { HttpClient } from '../http';
import { decodeBase64url, signatureValid } from '../token/jws';
import { KeySetCache } from '../token/key-set-cache';

export interface BrokerTokenVerifierOptions {
  readonly jwksUri: string;
  readonly issuer?: string;
  readonly algorithms: readonly string[];
  readonly settings: BrokerSettings;
  readonly http: HttpClient;
  readonly clock: Clock;
}

/** Tokens already verified: the broker token is cached per audience, so a handful at most. */
const REMEMBERED = 16;

/**
 * Voidkey's `brokerIdp.jwksUri` / `brokerAuth.jwksUri` and `brokerIdp.algorithms`: the
 * broker's own token must verify against that key set before its iss/aud are checked
 * (brokerAuth.expectedIssuer/expectedAudience) and before it leaves for a cloud. Each
 * token is verified once; the key set is cached like a client IdP's.
 */
export class BrokerTokenVerifier {
  private readonly keys: KeySetCache;
  private readonly verified = new Set<string>();

  constructor(private readonly options: BrokerTokenVerifierOptions) {
    const { settings } = options;
    this.keys = new KeySetCache({
      idpName: 'brokerIdp',
      issuer: options.issuer ?? '',
      jwksUri: options.jwksUri,
      http: options.http,
      clock: options.clock,
      timeoutMs: settings.upstreamTimeoutMs,
      cacheMs: settings.jwksCacheSeconds * 1000,
      cooldownMs: settings.jwksRefetchCooldownSeconds * 1000,
      staleMs: 24 * 3600 * 1000,
      checkUrl: (url) => checkServiceUrl(url, true),
    });
  }

  async verify(token: string): Promise<void> {
    if (this.verified.has(token)) return;
    const header = readHeader(token);
    if (typeof header.alg !== 'string' || !this.options.algorithms.includes(header.alg)) {
      throw new BrokerAuthFailed("the broker's own token is signed with an algorithm brokerIdp.algorithms does not allow", { detail: `brokerIdp token alg=${String(header.alg)}` });
    }
    let keys;
    try {
      keys = await this.keys.keysFor(header);
    } catch (err) {
      if (err instanceof IdpUnavailable) {
        throw new BrokerAuthUnavailable("the broker cannot fetch the keys of its own identity provider", { detail: 'brokerIdp jwksUri unavailable', cause: err, retryAfterSeconds: 5 });
      }
      throw new BrokerAuthFailed("no key of the broker's identity provider matches its own token", { detail: 'brokerIdp jwksUri: no matching key', cause: err });
    }
    const alg = header.alg;
    if (!keys.some((key) => signatureValid(token, alg, key))) {
      throw new BrokerAuthFailed("the broker's own token does not verify against its identity provider's keys", { detail: 'brokerIdp token signature invalid' });
    }
    if (this.verified.size >= REMEMBERED) this.verified.clear();
    this.verified.add(token);
  }
}

function readHeader(token: string): JWSHeaderParameters {
  try {
    const bytes = decodeBase64url(token.split('.')[0] ?? '');
    const header: unknown = bytes === undefined ? undefined : JSON.parse(bytes.toString('utf8'));
    if (header !== null && typeof header === 'object' && !Array.isArray(header)) return header as JWSHeaderParameters;
  } catch {
    // reported below
  }
  throw new BrokerAuthFailed("the broker's own token is not a JWT, so it cannot be verified against brokerIdp.jwksUri", { detail: 'brokerIdp token: undecodable header' });
}
