import { appendFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import type { CliIo } from '../cli-io';
import { addBrokerOptions, addTokenOptions, type BrokerOptionValues, type TokenOptionValues } from '../common-options';
import { FORMAT_NAMES, FORMATS, type FormatName } from '../formats/output-formats';
import { openSession } from '../session';
import { addMintOptions, mintRequest, type MintOptionValues } from './mint-options';

type MintValues = MintOptionValues & BrokerOptionValues & TokenOptionValues & { readonly format: FormatName };

export function registerMint(program: Command, io: CliIo): void {
  const command = program
    .command('mint')
    .summary('mint credentials and print them in a format')
    .description('Mint short-lived credentials for the named keys and print them on stdout in the chosen format. Everything else (diagnostics, errors) goes to stderr.');
  addMintOptions(command).addOption(
    new Option('--format <format>', 'how to print the credentials').choices(FORMAT_NAMES).default('env'),
  );
  addBrokerOptions(addTokenOptions(command));
  command.addHelpText(
    'after',
    `
Examples:
  eval "$(voidkey mint --keys AWS_DEPLOY)"
  voidkey mint --keys AWS_DEPLOY,GCP_READ --format dotenv > .env
  voidkey mint --all --format json | jq .
  voidkey mint --keys AWS_DEPLOY --format github          # in a GitHub Actions step
  voidkey mint --keys AWS_DEPLOY --format credential-process  # from ~/.aws/config`,
  );
  command.action(async (values: MintValues) => {
    const request = mintRequest(values);
    const format = FORMATS[values.format];
    format.check?.(request, io.env);
    const session = openSession(values, io);
    const client = session.client();
    const { token } = await session.token();
    const minted = await client.mint(token, request);
    format.emit(minted, {
      env: io.env,
      stdout: io.stdout,
      stderr: io.stderr,
      appendFile: (path, text) => appendFileSync(path, text, 'utf8'),
      // The Web Crypto global loads on first use; node:crypto would cost every start.
      newDelimiter: () => `ghadelimiter_${globalThis.crypto.randomUUID()}`,
    });
  });
}
