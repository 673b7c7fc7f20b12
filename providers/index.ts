import { createProviderRegistry, type ProviderRegistry } from '../broker-core';
import { awsStsProvider } from './aws-sts';
import { azureProvider } from './azure';
import { brokerJwtProvider } from './broker-jwt';
import { gcpProvider } from './gcp';
import { minioStsProvider } from './minio-sts';

/** Every provider this build ships, keyed by the config's `type:`. */
export function builtInProviders(): ProviderRegistry {
  return createProviderRegistry([awsStsProvider, minioStsProvider, gcpProvider, azureProvider, brokerJwtProvider]);
}
