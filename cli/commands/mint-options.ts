import { Option, type Command } from 'commander';
import { parsePositiveInteger } from '../common-options';
import { collectKeys } from '../mint-request';

export { mintRequest, type MintOptionValues } from '../mint-request';

/** What to mint: shared by `mint` and `exec`. */
export function addMintOptions(command: Command): Command {
  return command
    .addOption(new Option('--keys <names>', 'comma-separated keys to mint (repeatable)').argParser(collectKeys))
    .addOption(new Option('--all', 'mint every key this token may mint'))
    .addOption(new Option('--duration <seconds>', 'credential lifetime, within the key\'s bounds').argParser(parsePositiveInteger))
    .addOption(new Option('--idp <name>', 'the IdP the token must come from (default: chosen by its issuer)'));
}
