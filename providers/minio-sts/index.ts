import type { STSClient } from '@aws-sdk/client-sts';
import type { AccessProvider, AccessProviderConfig, AccessProviderFactory, ConfigProblem, KeyConfig, MintContext, MintedCredential } from '../../broker-core';
import { checkPolicies } from '../aws-sts';
import { assumeRoleWithWebIdentity, createStsClient, policyDocument } from '../sts-common/sts-client';
import { brokerAuthSchema, durationSchema, outputsSchema, policySchema, roleArnSchema } from '../sts-common/schema';

export interface MinioStsProviderConfig extends AccessProviderConfig {
  type: 'minio-sts';
  endpoint: string;
  region?: string;
  defaultDuration?: number;
  brokerAuth?: { audience?: string };
}

export interface MinioKeyConfig extends KeyConfig {
  roleArn?: string;
  policy?: string | Record<string, unknown>;
}

const MIN_DURATION = 900;
const MAX_DURATION = 365 * 24 * 3600;

class MinioStsProvider implements AccessProvider {
  readonly type = 'minio-sts';
  readonly name: string;
  private readonly client: STSClient;

  constructor(
    private readonly config: MinioStsProviderConfig,
    timeoutMs: number,
  ) {
    this.name = config.name;
    this.client = createStsClient({ endpoint: config.endpoint, region: config.region ?? 'us-east-1', timeoutMs });
  }

  async mint(context: MintContext): Promise<MintedCredential> {
    const key = context.key as MinioKeyConfig;
    const webIdentityToken = await context.brokerToken(this.config.brokerAuth?.audience);
    // MinIO ignores RoleSessionName but the SDK requires one.
    const minted = await assumeRoleWithWebIdentity(
      this.client,
      {
        RoleArn: key.roleArn,
        RoleSessionName: 'voidkey',
        WebIdentityToken: webIdentityToken,
        DurationSeconds: context.durationSeconds,
        Policy: policyDocument(key.policy),
      },
      context,
      'MinIO STS',
    );
    return { ...minted, fields: { ...minted.fields, Endpoint: this.config.endpoint } };
  }
}

export const minioStsProvider: AccessProviderFactory<MinioStsProviderConfig> = {
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
  outputFields: ['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration', 'Endpoint'],
  secretFields: [],
  durationBounds(provider) {
    return { min: MIN_DURATION, max: MAX_DURATION, default: provider.defaultDuration ?? 3600 };
  },
  check(_provider, _providerPath, keys): ConfigProblem[] {
    return checkPolicies(keys);
  },
  create(provider, deps) {
    return new MinioStsProvider(provider, deps.settings.upstreamTimeoutMs);
  },
};
