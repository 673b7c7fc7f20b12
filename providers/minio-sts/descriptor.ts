import type { AccessProviderConfig, DurationBounds, KeyConfig } from '../../broker-core';
import { checkPolicies, DEFAULT_MAX_DURATION } from '../aws-sts/descriptor';
import { brokerAuthSchema, durationSchema, outputsSchema, policySchema, roleArnSchema } from '../sts-common/schema';

export interface MinioStsProviderConfig extends AccessProviderConfig {
  type: 'minio-sts';
  endpoint: string;
  region?: string;
  defaultDuration?: number;
  brokerAuth?: { audience?: string; expectedIssuer?: string; expectedAudience?: string };
}

export interface MinioKeyConfig extends KeyConfig {
  roleArn?: string;
  policy?: string | Record<string, unknown>;
}

export const MIN_DURATION = 900;
export const MAX_DURATION = 365 * 24 * 3600;

export const minioStsDescriptor = {
  type: 'minio-sts',
  providerSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'type', 'endpoint'],
    properties: {
      name: { type: 'string' },
      type: { const: 'minio-sts' },
      description: { type: 'string' },
      endpoint: { type: 'string', minLength: 1 },
      region: { type: 'string', minLength: 1 },
      defaultDuration: { type: 'integer', minimum: MIN_DURATION, maximum: MAX_DURATION },
      brokerAuth: brokerAuthSchema,
    },
  },
  keySchema: {
    type: 'object',
    additionalProperties: false,
    required: ['provider', 'outputs'],
    properties: {
      provider: { type: 'string' },
      description: { type: 'string' },
      roleArn: roleArnSchema,
      policy: policySchema,
      duration: durationSchema,
      maxDuration: durationSchema,
      outputs: outputsSchema,
    },
  },
  outputFields: ['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration', 'Endpoint'] as readonly string[],
  secretFields: [] as readonly string[],
  durationBounds(provider: MinioStsProviderConfig): DurationBounds {
    return { min: MIN_DURATION, max: MAX_DURATION, default: provider.defaultDuration ?? 3600, defaultMax: DEFAULT_MAX_DURATION };
  },
  check(_provider: MinioStsProviderConfig, _providerPath: (string | number)[], keys: ReadonlyArray<{ path: (string | number)[]; key: KeyConfig }>) {
    return checkPolicies(keys);
  },
};
