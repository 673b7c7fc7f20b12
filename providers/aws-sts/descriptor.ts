import type { AccessProviderConfig, ConfigProblem, DurationBounds, KeyConfig } from '../../broker-core';
import { AWS_SOURCE_IDENTITY, AWS_TAG_KEY, isTemplate } from '../sts-common/claim-templates';
import { brokerAuthSchema, durationSchema, outputsSchema, policySchema, roleArnSchema } from '../sts-common/schema';
import { policyDocument } from '../sts-common/policy';

export interface AwsStsProviderConfig extends AccessProviderConfig {
  type: 'aws-sts';
  /** `web-identity` (default): AssumeRoleWithWebIdentity with the broker's token. `ambient`: AssumeRole with the broker's own AWS credentials. */
  auth?: 'web-identity' | 'ambient';
  endpoint?: string;
  region?: string;
  defaultDuration?: number;
  /** Voidkey's provider-level role: the default `roleArn` of keys that set none. */
  roleArn?: string;
  brokerAuth?: { audience?: string; expectedIssuer?: string; expectedAudience?: string; tokenSource?: 'broker-oidc' | 'self'; jwksUri?: string };
}

export interface AwsStsKeyConfig extends KeyConfig {
  /** Falls back to the provider's `roleArn`; one of the two is required. */
  roleArn?: string;
  policy?: string | Record<string, unknown>;
  policyArns?: string[];
  /** Ambient only. */
  externalId?: string;
  sessionTags?: Record<string, string>;
  transitiveTagKeys?: string[];
  sourceIdentity?: string;
  roleSessionName?: string;
}

export const MIN_DURATION = 900;
export const MAX_DURATION = 43_200;
/** Role chaining (AssumeRole from temporary credentials) caps sessions at one hour. */
export const MAX_CHAINED_DURATION = 3600;
/**
 * The longest lifetime a key may be minted for when it sets no `maxDuration`: one hour,
 * or the key's `duration` / the provider's `defaultDuration` where the config asks for
 * more. A caller never gets more than the config said (docs/configuration.md).
 */
export const DEFAULT_MAX_DURATION = 3600;

export const awsStsDescriptor = {
  type: 'aws-sts',
  providerSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'type'],
    properties: {
      name: { type: 'string' },
      type: { const: 'aws-sts' },
      description: { type: 'string' },
      auth: { enum: ['web-identity', 'ambient'] },
      endpoint: { type: 'string', minLength: 1 },
      region: { type: 'string', pattern: '^[a-z]{2}(-[a-z]+)+-\\d$' },
      defaultDuration: { type: 'integer', minimum: MIN_DURATION, maximum: MAX_DURATION },
      roleArn: roleArnSchema,
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
      policyArns: { type: 'array', maxItems: 10, items: roleArnSchema },
      externalId: { type: 'string', pattern: '^[\\w+=,.@:/-]{2,1224}$' },
      sessionTags: {
        type: 'object',
        maxProperties: 50,
        propertyNames: { pattern: '^[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]{1,128}$' },
        additionalProperties: { type: 'string', maxLength: 256 },
      },
      transitiveTagKeys: { type: 'array', maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 128 } },
      sourceIdentity: { type: 'string', minLength: 2, maxLength: 256 },
      roleSessionName: { type: 'string', minLength: 1, maxLength: 256 },
      duration: durationSchema,
      maxDuration: durationSchema,
      outputs: outputsSchema,
    },
  },
  outputFields: ['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration'] as readonly string[],
  secretFields: ['externalId'] as readonly string[],
  /** Ambient credentials are the broker's own AWS identity: no broker token is presented. */
  usesBrokerToken(provider: AwsStsProviderConfig): boolean {
    return provider.auth !== 'ambient';
  },
  /** What an IAM OIDC provider for the broker's issuer lists as its client id. */
  selfAudience(): string {
    return 'sts.amazonaws.com';
  },
  durationBounds(provider: AwsStsProviderConfig): DurationBounds {
    const max = provider.auth === 'ambient' ? MAX_CHAINED_DURATION : MAX_DURATION;
    return { min: MIN_DURATION, max, default: Math.min(max, provider.defaultDuration ?? (provider.auth === 'ambient' ? MAX_CHAINED_DURATION : 3600)), defaultMax: DEFAULT_MAX_DURATION };
  },
  check(provider: AwsStsProviderConfig, providerPath: (string | number)[], keys: ReadonlyArray<{ path: (string | number)[]; key: KeyConfig }>): ConfigProblem[] {
    const problems = checkPolicies(keys);
    const ambient = provider.auth === 'ambient';
    if (ambient && provider.defaultDuration !== undefined && provider.defaultDuration > MAX_CHAINED_DURATION) {
      problems.push({ path: [...providerPath, 'defaultDuration'], message: `ambient credentials chain roles, which AWS caps at ${MAX_CHAINED_DURATION} seconds` });
    }
    for (const { path, key } of keys as ReadonlyArray<{ path: (string | number)[]; key: AwsStsKeyConfig }>) {
      if (key.roleArn === undefined && provider.roleArn === undefined) {
        problems.push({ path, message: `missing required field 'roleArn' (or set 'roleArn' on provider '${provider.name}', the default of its keys)` });
      }
      // With web identity, AWS takes tags and source identity only from the token: the
      // broker's own issuer puts them there; a broker IdP's token cannot carry them.
      const selfIssued = provider.brokerAuth?.tokenSource === 'self';
      const onlyAmbient = ['externalId', 'sessionTags', 'transitiveTagKeys', 'sourceIdentity'] as const;
      for (const field of onlyAmbient) {
        if (!ambient && key[field] !== undefined && (field === 'externalId' || !selfIssued)) {
          const fix = field === 'externalId' ? "'auth: ambient'" : "'auth: ambient' or 'brokerAuth: {tokenSource: self}'";
          problems.push({ path: [...path, field], message: `needs ${fix} on provider '${provider.name}': with web identity, AWS takes tags and source identity only from the token` });
        }
      }
      for (const tagKey of Object.keys(key.sessionTags ?? {})) {
        if (isTemplate(tagKey) || !AWS_TAG_KEY.test(tagKey)) problems.push({ path: [...path, 'sessionTags', tagKey], message: 'is not a valid AWS tag key (1-128 letters, digits, spaces and _.:/=+-@; no templates)' });
      }
      for (const tagKey of key.transitiveTagKeys ?? []) {
        if (!Object.hasOwn(key.sessionTags ?? {}, tagKey)) problems.push({ path: [...path, 'transitiveTagKeys'], message: `'${tagKey}' is not one of the key's sessionTags` });
      }
      if (key.sourceIdentity !== undefined && !isTemplate(key.sourceIdentity) && !AWS_SOURCE_IDENTITY.test(key.sourceIdentity)) {
        problems.push({ path: [...path, 'sourceIdentity'], message: 'must be 2-64 characters of [A-Za-z0-9_+=,.@-], not starting with aws:' });
      }
      if (ambient) {
        for (const field of ['duration', 'maxDuration'] as const) {
          if (key[field] !== undefined && key[field] > MAX_CHAINED_DURATION) {
            problems.push({ path: [...path, field], message: `ambient credentials chain roles, which AWS caps at ${MAX_CHAINED_DURATION} seconds` });
          }
        }
      }
    }
    return problems;
  },
};

/** A policy written as a JSON string must parse, and its packed form fit STS's 2048 characters. */
export function checkPolicies(keys: ReadonlyArray<{ path: (string | number)[]; key: KeyConfig }>, skip: (policy: unknown) => boolean = () => false): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const { path, key } of keys) {
    if (key.policy === undefined || skip(key.policy)) continue;
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
