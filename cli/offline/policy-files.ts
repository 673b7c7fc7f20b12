import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { PolicySource } from '../../broker-core/policy/cedar-policy-set';

/**
 * A policy path as the broker reads it: a .cedar file, or a folder whose *.cedar files
 * are read in name order; relative to `base` (the config file's folder).
 */
export function readPolicyPath(base: string, path: string): PolicySource[] {
  const full = isAbsolute(path) ? path : join(base, path);
  let stat;
  try {
    stat = statSync(full);
  } catch (err) {
    throw new Error(`${full}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (err as Error).message}`, { cause: err });
  }
  if (!stat.isDirectory()) return [{ file: full, text: readFileSync(full, 'utf8') }];
  const names = readdirSync(full).filter((name) => name.endsWith('.cedar')).sort();
  if (names.length === 0) throw new Error(`${full}: the folder holds no *.cedar file`);
  return names.map((name) => ({ file: join(full, name), text: readFileSync(join(full, name), 'utf8') }));
}

/** The reader a config at `configFile` gives the loader. */
export function policyReaderFor(configFile: string): (path: string) => PolicySource[] {
  return (path) => readPolicyPath(dirname(configFile), path);
}
