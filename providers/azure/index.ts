import { lazyProvider, type AccessProviderFactory } from '../../broker-core';
import type { AzureProviderConfig } from './azure-config';
import { azureDescriptor } from './descriptor';

export type { AzureKeyConfig, AzureProviderConfig } from './azure-config';

/** `type: azure`. @azure/identity is loaded on the first mint, not at start. */
export const azureProvider: AccessProviderFactory<AzureProviderConfig> = {
  ...azureDescriptor,
  create: (config, deps) => lazyProvider(config.name, 'azure', async () => (await import('./azure-provider.js')).createAzureProvider(config, deps)),
};
