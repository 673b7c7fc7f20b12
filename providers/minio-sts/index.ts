import { lazyProvider, type AccessProviderFactory } from '../../broker-core';
import { minioStsDescriptor, type MinioStsProviderConfig } from './descriptor';

export type { MinioKeyConfig, MinioStsProviderConfig } from './descriptor';

/** `type: minio-sts`. The AWS SDK is loaded on the first mint, not at start. */
export const minioStsProvider: AccessProviderFactory<MinioStsProviderConfig> = {
  ...minioStsDescriptor,
  create: (config, deps) => lazyProvider(config.name, 'minio-sts', async () => (await import('./minio-sts-provider.js')).createMinioStsProvider(config, deps)),
};
