import type { MintRequest } from './broker-client';
import { UsageError } from './errors';

/** What to mint, as `mint`, `exec` and the GitHub Action take it from their users. */
export interface MintOptionValues {
  readonly keys?: readonly string[];
  readonly all?: boolean;
  readonly duration?: number;
  readonly idp?: string;
}

export function mintRequest(values: MintOptionValues): MintRequest {
  const keys = values.keys ?? [];
  if (values.all === true && keys.length > 0) throw new UsageError('--keys and --all are mutually exclusive');
  if (values.all !== true && keys.length === 0) throw new UsageError('name the keys to mint with --keys A,B, or pass --all');
  return {
    ...(values.all === true ? { all: true } : { keys }),
    ...(values.duration === undefined ? {} : { duration: values.duration }),
    ...(values.idp === undefined ? {} : { idpName: values.idp }),
  };
}

/** `A,B` → `['A', 'B']`, added to what earlier `--keys` gave; blanks and repeats dropped. */
export function collectKeys(value: string, previous: readonly string[] | undefined): string[] {
  const keys = new Set(previous ?? []);
  for (const key of value.split(',')) {
    const name = key.trim();
    if (name !== '') keys.add(name);
  }
  return [...keys];
}
