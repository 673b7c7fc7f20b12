import type { STSClient } from '@aws-sdk/client-sts';
import type { AccessProvider, AccessProviderConfig, AccessProviderFactory, ConfigProblem, KeyConfig, MintContext, MintedCredential } from '../../broker-core';
import { assumeRoleWithWebIdentity, createStsClient, policyDocument, roleSessionName } from '../sts-common/sts-client';
import { brokerAuthSchema, durationSchema, outputsSchema, policySchema, roleArnSchema } from '../sts-common/schema';

export interface AwsStsProviderConfig extends AccessProviderConfig {
  type: 'aws-sts';
  auth?: 'web-identity';
  endpoint?: string;
  region?: string;
  defaultDuration?: number;
  brokerAuth?: { audience?: string };
}

export interface AwsStsKeyConfig extends KeyConfig {
  roleArn: string;
  policy?: string | Record<string, unknown>;
  policyArns?: string[];
}

const MIN_DURATION = 900;
const MAX_DURATION = 43_200;
const OUTPUT_FIELDS = ['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration'] as const;

class AwsStsProvider implements AccessProvider {
  readonly type = 'aws-sts';
  readonly name: string;
  private readonly client: STSClient;

  constructor(
    private readonly config: AwsStsProviderConfig,
    timeoutMs: number,
  ) {
    this.name = config.name;
    this.client = createStsClient({ endpoint: config.endpoint, region: config.region ?? 'us-east-1', timeoutMs });
  }

  async mint(context: MintContext): Promise<MintedCredential> {
    const key = context.key as AwsStsKeyConfig;
    const webIdentityToken = await context.brokerToken(this.config.brokerAuth?.audience);
    return assumeRoleWithWebIdentity(
      this.client,
      {
        RoleArn: key.roleArn,
        RoleSessionName: roleSessionName(context.subject),
        WebIdentityToken: webIdentityToken,
        DurationSeconds: context.durationSeconds,
        Policy: policyDocument(key.policy),
        PolicyArns: key.policyArns?.map((arn) => ({ arn })),
      },
      context,
      'AWS STS',
    );
  }
}

export const awsStsProvider: AccessProviderFactory<AwsStsProviderConfig> = {
  type: 'aws-sts',
  providerSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'type'],
    properties: {
      name: { type: 'string' },
      type: { const: 'aws-sts' },
      description: { type: 'string' },
      auth: { enum: ['web-identity'] },
      endpoint: { type: 'string', minLength: 1 },
      region: { type: 'string', pattern: '^[a-z]{2}(-[a-z]+)+-\\d$' },
      defaultDuration: { type: 'integer', minimum: MIN_DURATION, maximum: MAX_DURATION },
      brokerAuth: brokerAuthSchema,
    },
  },
  keySchema: {
    type: 'object',
    additionalProperties: false,
    required: ['provider', 'roleArn', 'outputs'],
    properties: {
      provider: { type: 'string' },
      description: { type: 'string' },
      roleArn: roleArnSchema,
      policy: policySchema,
      policyArns: { type: 'array', maxItems: 10, items: roleArnSchema },
      duration: durationSchema,
      maxDuration: durationSchema,
      outputs: outputsSchema,
    },
  },
  outputFields: OUTPUT_FIELDS,
  secretFields: [],
  durationBounds(provider) {
    return { min: MIN_DURATION, max: MAX_DURATION, default: provider.defaultDuration ?? 3600 };
  },
  check(_provider, _providerPath, keys) {
    return checkPolicies(keys);
  },
  create(provider, deps) {
    return new AwsStsProvider(provider, deps.settings.upstreamTimeoutMs);
  },
};

/** A policy written as a JSON string must parse, and its packed form fit STS's 2048 characters. */
export function checkPolicies(keys: ReadonlyArray<{ path: (string | number)[]; key: KeyConfig }>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const { path, key } of keys) {
    if (key.policy === undefined) continue;
    let packed: string | undefined;
    try {
      packed = policyDocument(key.policy);
    } catch {
      problems.push({ path: [...path, 'policy'], message: 'is not valid JSON' });
      continue;
    }
    if (packed !== undefined && packed.length > 2048) {
      problems.push({ path: [...path, 'policy'], message: `is ${packed.length} characters once packed; STS accepts at most 2048` });
    }
  }
  return problems;
}
