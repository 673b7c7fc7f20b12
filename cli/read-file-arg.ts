import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigDirError, pickConfigFile } from '../broker-core/config/config-dir';
import { UsageError } from './errors';

/** A file named on the command line; one that cannot be read is a usage error (exit 2). */
export function readFileArg(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${what} ${path}${code ? ` (${code})` : ''}`);
  }
}

/** For repeatable options: `--env-file a --env-file b`. */
export function collect(value: string, previous: readonly string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * A config named on the command line: a file, or (as the broker's CONFIG_DIR) a folder
 * holding exactly one YAML file. Returns the file's path and text; a folder with none
 * or several is a usage error (exit 2) that names them.
 */
export function readConfigArg(path: string): { readonly file: string; readonly text: string } {
  let file = path;
  try {
    if (statSync(path).isDirectory()) {
      const files = readdirSync(path).filter((name) => {
        try {
          return statSync(join(path, name)).isFile();
        } catch {
          return false;
        }
      });
      file = join(path, pickConfigFile(path, files));
    }
  } catch (err) {
    if (err instanceof ConfigDirError) throw new UsageError(err.message);
    // unreadable: readFileArg reports it
  }
  return { file, text: readFileArg(file, 'the config file') };
}
