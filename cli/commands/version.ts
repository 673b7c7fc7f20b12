import type { Command } from 'commander';
import type { CliIo } from '../cli-io';
import { CLI_VERSION } from '../version';

export function registerVersion(program: Command, io: CliIo): void {
  program
    .command('version')
    .summary('print the CLI version')
    .description('Print the CLI version and the Node.js running it.')
    .action(() => {
      io.stdout(`voidkey ${CLI_VERSION} (node ${process.version}, ${process.platform}-${process.arch})\n`);
    });
}
