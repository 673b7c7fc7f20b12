import type * as OfflineTools from './offline';

/**
 * The offline tools (config validate/explain, audit verify), loaded when a command first
 * needs them. From the sources this is a plain require. In the bundle,
 * scripts/bundle-cli.mjs builds them separately and stores them gzipped in the file's
 * last line, a comment, so that `voidkey --help` and `voidkey mint` neither parse nor run
 * ajv, yaml and the schemas; this require() becomes the loader that unpacks them.
 */
export function offlineTools(): typeof OfflineTools {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./offline') as typeof OfflineTools;
}
