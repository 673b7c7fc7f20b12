import { BrokerAuthFailed } from '../errors';

export interface BrokerTokenExpectations {
  readonly expectedIssuer?: string;
  readonly expectedAudience?: string;
}

/**
 * Voidkey's `brokerAuth.expectedIssuer`/`expectedAudience`: before the broker's own token
 * leaves for the cloud, make sure it is the token this provider was configured for. The
 * token comes straight from the broker's IdP, so its claims are read, not verified.
 */
export function checkBrokerToken(token: string, expected: BrokerTokenExpectations | undefined): void {
  if (expected?.expectedIssuer === undefined && expected?.expectedAudience === undefined) return;
  const claims = readClaims(token);
  if (expected.expectedIssuer !== undefined && claims.iss !== expected.expectedIssuer) {
    throw new BrokerAuthFailed("the broker's own token comes from an unexpected issuer", { detail: 'brokerAuth.expectedIssuer does not match' });
  }
  const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  if (expected.expectedAudience !== undefined && !audiences.includes(expected.expectedAudience)) {
    throw new BrokerAuthFailed("the broker's own token is meant for another audience", { detail: 'brokerAuth.expectedAudience does not match' });
  }
}

function readClaims(token: string): { iss?: unknown; aud?: unknown } {
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    if (typeof payload === 'object' && payload !== null) return payload as { iss?: unknown; aud?: unknown };
  } catch {
    // reported below
  }
  throw new BrokerAuthFailed("the broker's own token is not a JWT, so brokerAuth expectations cannot be checked", { detail: 'brokerAuth: undecodable token' });
}
