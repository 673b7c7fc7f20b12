import type { AccessProviderConfig, ConfigProblem, DurationBounds, KeyConfig } from '../../broker-core';
import { checkPolicies, DEFAULT_MAX_DURATION } from '../aws-sts/descriptor';
import { brokerAuthSchema, durationSchema, outputsSchema, policySchema, roleArnSchema } from '../sts-common/schema';

export interface MinioStsProviderConfig extends AccessProviderConfig {
  type: 'minio-sts';
  endpoint: string;
  region?: string;
  defaultDuration?: number;
  /** Voidkey's provider-level role: the default `roleArn` of keys that set none. */
  roleArn?: string;
  brokerAuth?: { audience?: string; expectedIssuer?: string; expectedAudience?: string; tokenSource?: 'broker-oidc' | 'self'; jwksUri?: string };
}

export interface MinioKeyConfig extends KeyConfig {
  roleArn?: string;
  /** Voidkey's spelling: an ARN is the key's RoleArn; anything else is not sent (a warning says why). */
  role?: string;
  /** A policy document (JSON string or mapping), or a MinIO policy *name*, which is not sent. */
  policy?: string | Record<string, unknown>;
}

/** A MinIO policy name (Voidkey's `policy: client-policy`), as opposed to a JSON document. */
export function isPolicyName(policy: unknown): policy is string {
  return typeof policy === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.,+=@-]*$/.test(policy);
}

const ARN = /^arn:/;

/** The RoleArn a key's mint sends: its `roleArn`, its `role` when that is an ARN, else the provider's. */
export function roleArnOf(provider: MinioStsProviderConfig, key: MinioKeyConfig): string | undefined {
  return key.roleArn ?? (key.role !== undefined && ARN.test(key.role) ? key.role : undefined) ?? provider.roleArn;
}

const CLAIM_BASED =
  "MinIO applies the policy of the RoleArn's OpenID provider (write `roleArn: arn:minio:iam:::role/<id>`, printed by MinIO at start) or, for a claim-based provider, the policy named in the broker token's policy claim (MinIO's claim_name, default `policy`)";

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
      role: { type: 'string', minLength: 1, maxLength: 2048 },
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
  check(_provider: MinioStsProviderConfig, _providerPath: (string | number)[], keys: ReadonlyArray<{ path: (string | number)[]; key: KeyConfig }>): ConfigProblem[] {
    const problems = checkPolicies(keys, isPolicyName);
    for (const { path, key } of keys as ReadonlyArray<{ path: (string | number)[]; key: MinioKeyConfig }>) {
      if (key.role !== undefined && key.roleArn !== undefined) problems.push({ path: [...path, 'role'], message: "set 'roleArn' or Voidkey's 'role', not both" });
      if (key.role !== undefined && ARN.test(key.role) && !new RegExp(roleArnSchema.pattern).test(key.role)) problems.push({ path: [...path, 'role'], message: `must match ${roleArnSchema.pattern}` });
    }
    return problems;
  },
  /** Voidkey's policy names and role names load, but MinIO's STS cannot take them: say what happens instead. */
  lint(_provider: MinioStsProviderConfig, _providerPath: (string | number)[], keys: ReadonlyArray<{ path: (string | number)[]; key: KeyConfig }>): ConfigProblem[] {
    const warnings: ConfigProblem[] = [];
    for (const { path, key } of keys as ReadonlyArray<{ path: (string | number)[]; key: MinioKeyConfig }>) {
      if (key.role !== undefined && key.roleArn === undefined && !ARN.test(key.role)) {
        warnings.push({ path: [...path, 'role'], code: 'minio_role_name', message: `'${key.role}' is not an ARN, so it is not sent: MinIO's AssumeRoleWithWebIdentity takes a RoleArn, not a role or policy name. ${CLAIM_BASED}` });
      }
      if (isPolicyName(key.policy)) {
        warnings.push({ path: [...path, 'policy'], code: 'minio_policy_name', message: `'${key.policy}' is a policy name, not a policy document, so it is not sent as a session policy. ${CLAIM_BASED}. To narrow the session, write the document: \`policy: {Version: "2012-10-17", Statement: [...]}\`` });
      }
    }
    return warnings;
  },
};
