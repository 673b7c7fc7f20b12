import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AccessProviderConfig, ConfigProblem, DurationBounds, KeyConfig } from '../../broker-core';
import { brokerAuthSchema, outputsSchema } from '../../broker-core/access/schema-fragments';

/** An `accessProviders` entry of `type: azure` (Entra ID workload identity federation). */
export interface AzureProviderConfig extends AccessProviderConfig {
  type: 'azure';
  tenantId: string;
  authorityHost?: string;
  brokerAuth?: { audience?: string; expectedIssuer?: string; expectedAudience?: string; tokenSource?: 'broker-oidc' | 'self' };
  /** PEM file of the CAs to trust for `authorityHost` instead of the public roots (private clouds, test CAs). */
  caFile?: string;
}

export interface AzureKeyConfig extends KeyConfig {
  clientId: string;
  /** `RESOURCE/.default`: client-credential tokens carry the app's granted roles for one resource. */
  scope: string;
  /** Overrides the provider's tenant for this key's app. */
  tenantId?: string;
}

export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';
/** The audience Entra requires of federated assertions in the public cloud. */
export const DEFAULT_BROKER_AUDIENCE = 'api://AzureADTokenExchange';

export const AZURE_OUTPUT_FIELDS = ['AccessToken', 'ExpiresOn', 'TenantId', 'ClientId'] as const;

/**
 * Entra ID, not the caller, decides an access token's lifetime (about an hour; tenant
 * token-lifetime policies may change it), so the broker offers only that nominal hour and
 * reports the real expiry in `ExpiresOn`/`expiresAt`. A request for any other duration is
 * refused rather than silently ignored.
 */
export const ENTRA_TOKEN_LIFETIME = 3_600;

const GUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export const azureProviderSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'type', 'tenantId'],
  properties: {
    name: { type: 'string' },
    type: { const: 'azure' },
    tenantId: { type: 'string', pattern: GUID },
    authorityHost: { type: 'string', minLength: 1 },
    brokerAuth: brokerAuthSchema,
    caFile: { type: 'string', minLength: 1 },
  },
} as const;

export const azureKeySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['provider', 'outputs', 'clientId', 'scope'],
  properties: {
    provider: { type: 'string', minLength: 1 },
    duration: { type: 'integer', minimum: 1 },
    maxDuration: { type: 'integer', minimum: 1 },
    outputs: outputsSchema,
    clientId: { type: 'string', pattern: GUID },
    scope: { type: 'string', maxLength: 1024, pattern: '^\\S+/\\.default$' },
    tenantId: { type: 'string', pattern: GUID },
  },
} as const;

export function azureDurationBounds(): DurationBounds {
  return { min: ENTRA_TOKEN_LIFETIME, max: ENTRA_TOKEN_LIFETIME, default: ENTRA_TOKEN_LIFETIME };
}

export function checkAzureConfig(provider: AzureProviderConfig, providerPath: (string | number)[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (provider.authorityHost !== undefined && !provider.authorityHost.startsWith('https://')) {
    // @azure/identity refuses a plain-http authority, loopback included.
    problems.push({ path: [...providerPath, 'authorityHost'], message: 'must use https (Entra ID clients refuse plain http, even on loopback)' });
  }
  if (provider.caFile !== undefined) {
    const problem = checkCaFile(provider.caFile);
    if (problem) problems.push({ path: [...providerPath, 'caFile'], message: problem });
  }
  return problems;
}

/** The CAs in a PEM file, for an https agent's `ca`. */
export function readCaFile(path: string): string {
  return readFileSync(path, 'utf8');
}

function checkCaFile(path: string): string | undefined {
  let pem: string;
  try {
    pem = readCaFile(path);
  } catch (err) {
    return `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return 'holds no PEM certificate';
  try {
    for (const block of blocks) new X509Certificate(block);
  } catch {
    return 'holds a certificate that cannot be parsed';
  }
  return undefined;
}
