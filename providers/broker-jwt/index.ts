import type { AccessProviderFactory } from '../../broker-core';
import { createBrokerJwtProvider } from './broker-jwt-provider';
import type { BrokerJwtProviderConfig } from './broker-jwt-config';
import { brokerJwtDescriptor } from './descriptor';

export type { BrokerJwtKeyConfig, BrokerJwtProviderConfig } from './broker-jwt-config';

/** `type: broker-jwt`: no SDK, signed in-process by the broker's own issuer. */
export const brokerJwtProvider: AccessProviderFactory<BrokerJwtProviderConfig> = {
  ...brokerJwtDescriptor,
  create: (config) => createBrokerJwtProvider(config),
};
