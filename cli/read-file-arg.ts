import { readFileSync } from 'node:fs';
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
