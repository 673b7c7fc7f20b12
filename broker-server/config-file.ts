import { readFileSync } from 'node:fs';
import { loadConfig, type LoadedConfig, type ProviderRegistry } from '../broker-core';

/** Reads and validates a config file; every problem carries file:line:column. */
export function loadConfigFile(path: string, providers: ProviderRegistry, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const text = readFileSync(path, 'utf8');
  return loadConfig(text, { fileName: path, env, providers });
}
