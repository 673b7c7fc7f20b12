import type { AccessProviderConfig, ConfigProblem, DurationBounds, KeyConfig } from '../../broker-core';
import { outputsSchema } from '../../broker-core/access/schema-fragments';

/** An `accessProviders` entry of `type: broker-jwt`: tokens signed by the broker's own issuer (`brokerIdentity`). */
export interface BrokerJwtProviderConfig extends AccessProviderConfig {
  type: 'broker-jwt';
  description?: string;
  defaultDuration?: number;
}

export interface BrokerJwtKeyConfig extends KeyConfig {
  /** The token's `aud`: the service that trusts the broker's issuer. */
  audience: string;
  /** Extra claims, each a `${claims.NAME}` template or literal text; registered claims (iss, sub, aud, exp, nbf, iat, jti, act) cannot be set. */
  claims?: Record<string, string>;
}

export const BROKER_JWT_OUTPUT_FIELDS = ['Token', 'ExpiresAt'] as const;

/** Registered claims the broker sets itself: a key cannot template them. */
export const BROKER_JWT_REGISTERED = ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'act'] as const;

/** A claim's rendered value: printable text, bounded. */
export const BROKER_JWT_CLAIM_VALUE = /^[^\p{Cc}\u2028\u2029]{0,256}$/u;

export const brokerJwtProviderSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'type'],
  properties: {
    name: { type: 'string' },
    type: { const: 'broker-jwt' },
    description: { type: 'string' },
    defaultDuration: { type: 'integer', minimum: 60, maximum: 3600 },
  },
} as const;

export const brokerJwtKeySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['provider', 'outputs', 'audience'],
  properties: {
    provider: { type: 'string', minLength: 1 },
    duration: { type: 'integer', minimum: 1 },
    maxDuration: { type: 'integer', minimum: 1 },
    outputs: outputsSchema,
    audience: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^\\S+$' },
    claims: {
      type: 'object',
      maxProperties: 32,
      propertyNames: { pattern: '^[A-Za-z0-9_.:/-]{1,128}$', not: { enum: [...BROKER_JWT_REGISTERED] } },
      additionalProperties: { type: 'string', maxLength: 1024 },
    },
  },
} as const;

/** A token for another service: one minute to one hour, five minutes unless the key says otherwise. */
export function brokerJwtDurationBounds(): DurationBounds {
  return { min: 60, max: 3600, default: 300 };
}

export function checkBrokerJwtConfig(): ConfigProblem[] {
  return [];
}
