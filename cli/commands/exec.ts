import type { Command } from 'commander';
import type { CliIo } from '../cli-io';
import { addBrokerOptions, addTokenOptions, type BrokerOptionValues, type TokenOptionValues } from '../common-options';
import { flattenCredentials } from '../formats/flatten-credentials';
import { runChild } from '../run-child';
import { openSession } from '../session';
import { addMintOptions, mintRequest, type MintOptionValues } from './mint-options';

type ExecValues = MintOptionValues & BrokerOptionValues & TokenOptionValues;

export function registerExec(program: Command, io: CliIo): void {
  const command = program
    .command('exec')
    .summary('run a command with credentials in its environment')
    .description(
      'Mint credentials and run a command with them added to its environment only: nothing is printed or written to disk. Signals are passed on; voidkey exits with the command\'s status.',
    )
    .argument('<command>', 'the command to run')
    .argument('[args...]', 'its arguments (put -- before the command so its options are not read as voidkey\'s)')
    .passThroughOptions();
  addBrokerOptions(addTokenOptions(addMintOptions(command)));
  command.addHelpText(
    'after',
    `
Examples:
  voidkey exec --keys AWS_DEPLOY -- aws s3 sync ./site s3://acme-site
  voidkey exec --keys AWS_DEPLOY,GCP_READ -- ./deploy.sh --prod`,
  );
  command.action(async (file: string, args: string[], values: ExecValues) => {
    const request = mintRequest(values);
    const session = openSession(values, io);
    const client = session.client();
    const { token } = await session.token();
    const credentials = flattenCredentials(await client.mint(token, request));
    session.debug(`running ${file} with ${[...credentials.keys()].join(', ') || 'no variables'} added to its environment`);
    io.exitCode = await runChild(file, args, { ...io.env, ...Object.fromEntries(credentials) }, io.stderr);
  });
}
