import { createProviderRegistry, type AccessProviderFactory, type ProviderRegistry } from '../broker-core/access/access-provider';
import { awsStsDescriptor } from './aws-sts/descriptor';
import { azureDescriptor } from './azure/descriptor';
import { brokerJwtDescriptor } from './broker-jwt/descriptor';
import { gcpDescriptor } from './gcp/descriptor';
import { minioStsDescriptor } from './minio-sts/descriptor';

/** What config validation needs of a provider: everything but `create`. */
export type ProviderDescriptor = Omit<AccessProviderFactory, 'create'>;

const DESCRIPTORS: readonly ProviderDescriptor[] = [awsStsDescriptor, minioStsDescriptor, gcpDescriptor, azureDescriptor, brokerJwtDescriptor];

/**
 * Every provider type this build ships, as a registry that validates configs exactly
 * like the server's but cannot mint: no cloud SDK is loaded, so `voidkey config
 * validate` stays light. A test keeps it in step with `builtInProviders()`.
 */
export function providerDescriptors(): ProviderRegistry {
  return createProviderRegistry(
    DESCRIPTORS.map((descriptor) => ({
      ...descriptor,
      create(): never {
        throw new Error(`the ${descriptor.type} provider is not available in the CLI: it validates configs, it does not mint`);
      },
    })),
  );
}
