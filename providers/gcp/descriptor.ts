import type { AccessProviderFactory } from '../../broker-core/access/access-provider';
import { checkGcpConfig, CLOUD_PLATFORM_SCOPE, type GcpKeyConfig, GCP_OUTPUT_FIELDS, gcpDurationBounds, gcpKeySchema, gcpProviderSchema, type GcpProviderConfig } from './gcp-config';

/**
 * Everything about `type: gcp` but minting: what config validation needs, free of
 * google-auth-library so the CLI can check configs without the SDK.
 */
export const gcpDescriptor: Omit<AccessProviderFactory<GcpProviderConfig>, 'create'> = {
  type: 'gcp',
  providerSchema: gcpProviderSchema,
  keySchema: gcpKeySchema,
  outputFields: GCP_OUTPUT_FIELDS,
  secretFields: [],
  exchangeToken: { field: 'AccessToken', tokenType: 'urn:ietf:params:oauth:token-type:access_token', scopes: (key) => (key as GcpKeyConfig).scopes ?? [CLOUD_PLATFORM_SCOPE] },
  durationBounds: gcpDurationBounds,
  /** A pool provider with no allowed audiences accepts its own resource name. */
  selfAudience: (provider) => provider.workloadIdentityProvider,
  check: checkGcpConfig,
};
