import { lazyProvider, type AccessProviderFactory } from '../../broker-core';
import { gcpDescriptor } from './descriptor';
import type { GcpProviderConfig } from './gcp-config';

export type { GcpKeyConfig, GcpProviderConfig } from './gcp-config';

/** `type: gcp`. google-auth-library is loaded on the first mint, not at start. */
export const gcpProvider: AccessProviderFactory<GcpProviderConfig> = {
  ...gcpDescriptor,
  create: (config, deps) => lazyProvider(config.name, 'gcp', async () => (await import('./gcp-provider.js')).createGcpProvider(config, deps)),
};
