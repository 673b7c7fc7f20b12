export { gcpProvider } from './gcp-provider';
export type { GcpKeyConfig, GcpProviderConfig } from './gcp-config';
