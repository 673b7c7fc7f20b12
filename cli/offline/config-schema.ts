import { configJsonSchema } from '../../broker-core/config/config-json-schema';
import { providerDescriptors } from '../../providers/descriptors';

/** `voidkey config schema`: the loader's schemas, every provider type of this build joined in. */
export function configSchema(): Record<string, unknown> {
  return configJsonSchema(providerDescriptors());
}
