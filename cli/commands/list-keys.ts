import type { Command } from 'commander';
import type { CliIo } from '../cli-io';
import { addBrokerOptions, addTokenOptions, type BrokerOptionValues, type TokenOptionValues } from '../common-options';
import { formatTable } from '../format-table';
import { openSession } from '../session';

type ListKeysValues = BrokerOptionValues & TokenOptionValues & { readonly json?: boolean };

export function registerListKeys(program: Command, io: CliIo): void {
  const command = program
    .command('list-keys')
    .summary('list the keys this token may mint')
    .description('List the keys this token may mint, with their provider, lifetime bounds and the variables they set.')
    .option('--json', 'print the broker\'s answer as JSON');
  addBrokerOptions(addTokenOptions(command));
  command.action(async (values: ListKeysValues) => {
    const session = openSession(values, io);
    const client = session.client();
    const { token } = await session.token();
    const answer = await client.listKeys(token);
    if (values.json === true) {
      io.stdout(`${JSON.stringify(answer, null, 2)}\n`);
      return;
    }
    if (answer.keys.length === 0) {
      io.stderr('voidkey: this token may mint no keys\n');
      return;
    }
    io.stdout(
      formatTable(
        ['KEY', 'PROVIDER', 'TYPE', 'IDENTITY', 'DURATION (default/min/max s)', 'OUTPUTS'],
        answer.keys.map((key) => [
          key.name,
          String(key.provider ?? ''),
          String(key.type ?? ''),
          String(key.identity ?? ''),
          key.duration ? `${key.duration.default}/${key.duration.min}/${key.duration.max}` : '',
          (key.outputs ?? []).join(','),
        ]),
      ),
    );
  });
}
