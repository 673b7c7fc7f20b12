import type { MintResponse } from '../broker-client';
import { UnexpectedResponse, UsageError } from '../errors';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}

/**
 * All keys' credentials as one environment: name → value, in the broker's order.
 * Names are checked before anything is printed, so a name can never smuggle shell
 * syntax; two keys that set one name to different values are refused rather than
 * one silently winning.
 */
export function flattenCredentials(minted: MintResponse): Map<string, string> {
  const env = new Map<string, string>();
  const owner = new Map<string, string>();
  for (const [key, { credentials }] of Object.entries(minted)) {
    for (const [name, value] of Object.entries(credentials)) {
      if (!isEnvName(name)) {
        throw new UnexpectedResponse(`key ${key} outputs ${JSON.stringify(name)}, which is not a valid environment variable name`);
      }
      if (value.includes('\0')) {
        throw new UnexpectedResponse(`key ${key} outputs ${name} with a NUL character, which no environment can hold`);
      }
      const previous = env.get(name);
      if (previous !== undefined && previous !== value) {
        throw new UsageError(`keys ${owner.get(name)} and ${key} both output ${name}; mint them in separate calls`);
      }
      env.set(name, value);
      owner.set(name, key);
    }
  }
  return env;
}
