import type { AccessProviderFactory } from '../../broker-core/access/access-provider';
import { AZURE_OUTPUT_FIELDS, azureDurationBounds, azureKeySchema, azureProviderSchema, checkAzureConfig, DEFAULT_BROKER_AUDIENCE, type AzureKeyConfig, type AzureProviderConfig } from './azure-config';

/**
 * Everything about `type: azure` but minting: what config validation needs, free of
 * @azure/identity so the CLI can check configs without the SDK.
 */
export const azureDescriptor: Omit<AccessProviderFactory<AzureProviderConfig>, 'create'> = {
  type: 'azure',
  providerSchema: azureProviderSchema,
  keySchema: azureKeySchema,
  outputFields: AZURE_OUTPUT_FIELDS,
  secretFields: [],
  exchangeToken: { field: 'AccessToken', tokenType: 'urn:ietf:params:oauth:token-type:access_token', scopes: (key) => [(key as AzureKeyConfig).scope] },
  durationBounds: azureDurationBounds,
  /** The one audience a federated credential accepts. */
  selfAudience: () => DEFAULT_BROKER_AUDIENCE,
  check: checkAzureConfig,
};
