import { lazyProvider, type AccessProviderFactory } from '../../broker-core';
import type { BrokerJwtProviderConfig } from './broker-jwt-config';
import { brokerJwtDescriptor } from './descriptor';

export type { BrokerJwtKeyConfig, BrokerJwtProviderConfig } from './broker-jwt-config';

/** `type: broker-jwt`: no SDK, signed in-process by the broker's own issuer; loaded on the first mint like every provider. */
export const brokerJwtProvider: AccessProviderFactory<BrokerJwtProviderConfig> = {
  ...brokerJwtDescriptor,
  create: (config) => lazyProvider(config.name, 'broker-jwt', async () => (await import('./broker-jwt-provider.js')).createBrokerJwtProvider(config)),
};
