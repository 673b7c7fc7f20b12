import { startupSnapshot } from 'node:v8';

/**
 * Runs the server's start function now, or, while `node --build-snapshot` evaluates the
 * bundle (scripts/bundle-snapshot.mjs), when a process starts from the snapshot: module
 * evaluation is done at build time, everything that reads the config, the environment,
 * the clock or randomness runs in `start`.
 */
export function launch(start: () => void, warmUp?: () => void): void {
  if (startupSnapshot.isBuildingSnapshot()) {
    warmUp?.();
    startupSnapshot.setDeserializeMainFunction(start);
  } else start();
}
