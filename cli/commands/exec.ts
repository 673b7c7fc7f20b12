import type { Command } from 'commander';
import type { CliIo } from '../cli-io';
import { addBrokerOptions, addTokenOptions, type BrokerOptionValues, type TokenOptionValues } from '../common-options';
import { flattenCredentials } from '../formats/flatten-credentials';
import { runChild } from '../run-child';
import { openSession } from '../session';
import { tokenVariables } from '../token-source';
import { addMintOptions, mintRequest, type MintOptionValues } from './mint-options';

type ExecValues = MintOptionValues & BrokerOptionValues & TokenOptionValues & { readonly keepTokenEnv?: boolean };

export function registerExec(program: Command, io: CliIo): void {
  const command = program
    .command('exec')
    .summary('run a command with credentials in its environment')
    .description(
      'Mint credentials and run a command with them added to its environment only: nothing is printed or written to disk. The variables that hold the OIDC token (VOIDKEY_OIDC_TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN and _URL, VOIDKEY_ID_TOKEN, the --token-env variable) are removed from it: the command gets its credentials, not the power to mint others. Signals are passed on; voidkey exits with the command\'s status.',
    )
    .argument('<command>', 'the command to run')
    .argument('[args...]', 'its arguments (put -- before the command so its options are not read as voidkey\'s)')
    .option('--keep-token-env', 'leave the OIDC token variables in the command\'s environment (it can then mint credentials itself)')
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
    const env: Record<string, string | undefined> = { ...io.env };
    if (values.keepTokenEnv !== true) {
      const removed = tokenVariables(values).filter((name) => name in env);
      for (const name of removed) delete env[name];
      if (removed.length > 0) session.debug(`removed ${removed.join(', ')} from its environment (--keep-token-env keeps them)`);
    }
    io.exitCode = await runChild(file, args, { ...env, ...Object.fromEntries(credentials) }, io.stderr);
  });
}
