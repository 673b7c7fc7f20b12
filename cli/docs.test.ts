import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, EXIT_LABELS } from './exit-codes';
import { FORMAT_NAMES } from './formats/output-formats';
import { buildProgram } from './program';

// docs/cli.md is the CLI's reference: it must name every command, flag, format and exit code.
const docs = readFileSync(join(__dirname, '..', 'docs', 'cli.md'), 'utf8');
const program = buildProgram({ env: {}, stdout: () => undefined, stderr: () => undefined, fetch });

/** Every command with the words that invoke it (`config validate`), subcommands included. */
function allCommands(parent: Command, prefix: string[] = []): Array<readonly [string, Command]> {
  return parent.commands.flatMap((command) => {
    const path = [...prefix, command.name()];
    return [[path.join(' '), command] as const, ...allCommands(command, path)];
  });
}

describe('docs/cli.md', () => {
  it.each(allCommands(program))('documents `voidkey %s` and all its options', (name, command) => {
    expect(docs).toContain(`### \`voidkey ${name}\``);
    for (const option of command.options) {
      expect(docs).toContain(`\`${option.long}`);
    }
  });

  it.each(FORMAT_NAMES)('documents the %s format', (format) => {
    expect(docs).toContain(`### \`${format}\``);
  });

  it.each(Object.values(ExitCode))('documents exit code %i', (code) => {
    expect(docs).toMatch(new RegExp(`^\\| ${code} \\| ${EXIT_LABELS[code]} \\|`, 'm'));
  });
});
