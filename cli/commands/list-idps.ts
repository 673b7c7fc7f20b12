import type { Command } from 'commander';
import type { CliIo } from '../cli-io';
import { addBrokerOptions, type BrokerOptionValues } from '../common-options';
import { printableLines } from '../printable';
import { openSession } from '../session';

type ListIdpsValues = BrokerOptionValues & { readonly json?: boolean };

export function registerListIdps(program: Command, io: CliIo): void {
  const command = program
    .command('list-idps')
    .summary('list the identity providers the broker accepts tokens from')
    .description('List the identity providers (token issuers) the broker accepts. Needs no token.')
    .option('--json', 'print the broker\'s answer as JSON');
  addBrokerOptions(command);
  command.action(async (values: ListIdpsValues) => {
    const session = openSession(values, io);
    const idps = await session.client().listIdps();
    if (values.json === true) {
      io.stdout(`${JSON.stringify(idps, null, 2)}\n`);
      return;
    }
    io.stdout(printableLines(idps.map((idp) => `${idp.name}${idp.isDefault ? ' (default)' : ''}`)));
  });
}
