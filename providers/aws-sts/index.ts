import { lazyProvider, type AccessProviderFactory } from '../../broker-core';
import { awsStsDescriptor, type AwsStsProviderConfig } from './descriptor';

export { checkPolicies } from './descriptor';
export type { AwsStsKeyConfig, AwsStsProviderConfig } from './descriptor';

/** `type: aws-sts`. The AWS SDK is loaded on the first mint, not at start. */
export const awsStsProvider: AccessProviderFactory<AwsStsProviderConfig> = {
  ...awsStsDescriptor,
  create: (config, deps) => lazyProvider(config.name, 'aws-sts', async () => (await import('./aws-sts-provider.js')).createAwsStsProvider(config, deps)),
};
