import type { AccessProviderConfig, ConfigProblem, DurationBounds, KeyConfig } from '../../broker-core';
import { brokerAuthSchema, outputsSchema } from '../../broker-core/access/schema-fragments';

/** An `accessProviders` entry of `type: gcp` (workload identity federation). */
export interface GcpProviderConfig extends AccessProviderConfig {
  type: 'gcp';
  /** `//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER` */
  workloadIdentityProvider: string;
  stsEndpoint?: string;
  iamCredentialsEndpoint?: string;
  brokerAuth?: { audience?: string; expectedIssuer?: string; expectedAudience?: string; tokenSource?: 'broker-oidc' | 'self' };
  defaultDuration?: number;
}

export interface GcpKeyConfig extends KeyConfig {
  serviceAccount: string;
  scopes?: string[];
  /** The account is allowed lifetimes up to 12 h by org policy (constraints/iam.allowServiceAccountCredentialLifetimeExtension). */
  extendedLifetime?: boolean;
  projectId?: string;
  /** Service account emails of a delegation chain, first to last. */
  delegates?: string[];
}

export const DEFAULT_STS_ENDPOINT = 'https://sts.googleapis.com/v1/token';
export const DEFAULT_IAM_CREDENTIALS_ENDPOINT = 'https://iamcredentials.googleapis.com';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export const GCP_OUTPUT_FIELDS = ['AccessToken', 'ExpireTime', 'ProjectId'] as const;

/** generateAccessToken's limits: one hour, or twelve where org policy extends the account. */
export const MAX_LIFETIME = 3_600;
export const MAX_EXTENDED_LIFETIME = 43_200;
/** Shorter tokens are no use to a CI step; GCP itself documents no lower bound. */
export const MIN_LIFETIME = 60;

const SERVICE_ACCOUNT_EMAIL = '^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.-]*\\.gserviceaccount\\.com$';
const PROJECT_ID = '^(?:[a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$';

export const gcpProviderSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'type', 'workloadIdentityProvider'],
  properties: {
    name: { type: 'string' },
    type: { const: 'gcp' },
    workloadIdentityProvider: {
      type: 'string',
      pattern: '^//iam\\.googleapis\\.com/projects/[0-9]+/locations/global/workloadIdentityPools/[a-z0-9-]{4,32}/providers/[a-z0-9-]{4,32}$',
    },
    stsEndpoint: { type: 'string', minLength: 1 },
    iamCredentialsEndpoint: { type: 'string', minLength: 1 },
    brokerAuth: brokerAuthSchema,
    defaultDuration: { type: 'integer', minimum: MIN_LIFETIME, maximum: MAX_EXTENDED_LIFETIME },
  },
} as const;

export const gcpKeySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['provider', 'outputs', 'serviceAccount'],
  properties: {
    provider: { type: 'string', minLength: 1 },
    duration: { type: 'integer', minimum: 1 },
    maxDuration: { type: 'integer', minimum: 1 },
    outputs: outputsSchema,
    serviceAccount: { type: 'string', maxLength: 254, pattern: SERVICE_ACCOUNT_EMAIL },
    scopes: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1, pattern: '^\\S+$' } },
    extendedLifetime: { type: 'boolean' },
    projectId: { type: 'string', pattern: PROJECT_ID },
    delegates: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', maxLength: 254, pattern: SERVICE_ACCOUNT_EMAIL } },
  },
} as const;

export function gcpDurationBounds(_provider: GcpProviderConfig, key: KeyConfig): DurationBounds {
  const max = key.extendedLifetime === true ? MAX_EXTENDED_LIFETIME : MAX_LIFETIME;
  return { min: MIN_LIFETIME, max, default: MAX_LIFETIME };
}

/**
 * The project a service account lives in, from its email: `NAME@PROJECT.iam.gserviceaccount.com`,
 * `PROJECT@appspot.gserviceaccount.com`, or for domain-scoped projects
 * `NAME@PROJECT.DOMAIN.iam.gserviceaccount.com` → `DOMAIN:PROJECT`. Google-managed
 * accounts such as `NUMBER-compute@developer.gserviceaccount.com` and service agents
 * (`service-NUMBER@gcp-sa-*.iam.gserviceaccount.com`) name no project id.
 */
export function projectIdOf(serviceAccount: string): string | undefined {
  const [local, domain] = serviceAccount.split('@') as [string, string | undefined];
  if (domain === 'appspot.gserviceaccount.com') return local;
  const scoped = domain?.endsWith('.iam.gserviceaccount.com') ? domain.slice(0, -'.iam.gserviceaccount.com'.length) : undefined;
  if (!scoped) return undefined;
  const [project, ...rest] = scoped.split('.') as [string, ...string[]];
  // Google's service agents live in Google-owned `gcp-sa-*` projects, not the customer's.
  if (project.startsWith('gcp-sa-')) return undefined;
  return rest.length === 0 ? project : `${rest.join('.')}:${project}`;
}

export function checkGcpConfig(
  _provider: GcpProviderConfig,
  _providerPath: (string | number)[],
  keys: ReadonlyArray<{ path: (string | number)[]; key: KeyConfig }>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const { path, key } of keys) {
    const gcpKey = key as GcpKeyConfig;
    const projectId = gcpKey.projectId ?? projectIdOf(gcpKey.serviceAccount);
    if (projectId === undefined && Object.values(key.outputs).includes('ProjectId')) {
      problems.push({ path: [...path, 'outputs'], message: `ProjectId cannot be derived from '${gcpKey.serviceAccount}': set 'projectId' on the key` });
    }
    if (gcpKey.delegates?.includes(gcpKey.serviceAccount)) {
      problems.push({ path: [...path, 'delegates'], message: 'must not contain the key\'s own serviceAccount' });
    }
  }
  return problems;
}
