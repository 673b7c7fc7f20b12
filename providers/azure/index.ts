export { azureProvider } from './azure-provider';
export type { AzureKeyConfig, AzureProviderConfig } from './azure-config';
