import { Option, type Command } from 'commander';
import type { MintRequest } from '../broker-client';
import { parsePositiveInteger } from '../common-options';
import { UsageError } from '../errors';

export interface MintOptionValues {
  readonly keys?: readonly string[];
  readonly all?: boolean;
  readonly duration?: number;
  readonly idp?: string;
}

/** What to mint: shared by `mint` and `exec`. */
export function addMintOptions(command: Command): Command {
  return command
    .addOption(new Option('--keys <names>', 'comma-separated keys to mint (repeatable)').argParser(collectKeys))
    .addOption(new Option('--all', 'mint every key this token may mint'))
    .addOption(new Option('--duration <seconds>', 'credential lifetime, within the key\'s bounds').argParser(parsePositiveInteger))
    .addOption(new Option('--idp <name>', 'the IdP the token must come from (default: chosen by its issuer)'));
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

function collectKeys(value: string, previous: readonly string[] | undefined): string[] {
  const keys = new Set(previous ?? []);
  for (const key of value.split(',')) {
    const name = key.trim();
    if (name !== '') keys.add(name);
  }
  return [...keys];
}
