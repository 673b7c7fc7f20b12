import type { AccessProviderFactory } from '../../broker-core/access/access-provider';
import { BROKER_JWT_OUTPUT_FIELDS, brokerJwtDurationBounds, brokerJwtKeySchema, brokerJwtProviderSchema, checkBrokerJwtConfig, type BrokerJwtProviderConfig } from './broker-jwt-config';

/** Everything about `type: broker-jwt` but minting (the CLI validates configs with it). */
export const brokerJwtDescriptor: Omit<AccessProviderFactory<BrokerJwtProviderConfig>, 'create'> = {
  type: 'broker-jwt',
  providerSchema: brokerJwtProviderSchema,
  keySchema: brokerJwtKeySchema,
  outputFields: BROKER_JWT_OUTPUT_FIELDS,
  secretFields: [],
  exchangeToken: { field: 'Token', tokenType: 'urn:ietf:params:oauth:token-type:jwt' },
  durationBounds: brokerJwtDurationBounds,
  selfIssued: true,
  check: checkBrokerJwtConfig,
};
