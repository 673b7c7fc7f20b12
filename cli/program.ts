import { Command, CommanderError } from 'commander';
import type { CliIo } from './cli-io';
import { COMMANDS } from './commands';
import { CliError } from './errors';
import { EXIT_LABELS, ExitCode } from './exit-codes';
import { printable, printableLines } from './printable';
import { isTruthyFlag } from './session';
import { CLI_VERSION } from './version';

export function buildProgram(io: CliIo): Command {
  const program = new Command('voidkey')
    .description('Exchange this job\'s OIDC token for short-lived cloud credentials at a Voidkey broker.')
    .version(CLI_VERSION, '-V, --version', 'print the CLI version')
    .helpCommand(false)
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // Commander quotes the arguments it could not use: one line each, whatever they hold.
      outputError: (text, write) => write(printableLines(`voidkey: ${EXIT_LABELS[ExitCode.Usage]}: ${text.replace(/^error: /, '')}`.trimEnd().split('\n'))),
    })
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 internal error, 2 usage, 3 token, 4 denied, 5 provider failed,
6 broker unavailable (worth retrying later), 7 invalid (config validate, audit verify).
See docs/cli.md.`,
    );
  // Subcommands copy the settings above (exitOverride, output) when they are created.
  for (const register of COMMANDS) register(program, io);
  return program;
}

/** Runs the CLI and resolves to the process's exit code; never throws. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  try {
    await buildProgram(io).parseAsync(args, { from: 'user' });
    return io.exitCode ?? ExitCode.Ok;
  } catch (err) {
    return report(err, io, wantsDebug(args, io.env));
  }
}

function report(err: unknown, io: CliIo, debug: boolean): number {
  if (err instanceof CommanderError) {
    // Commander has printed its message (or the help/version) already.
    return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  }
  if (err instanceof CliError) {
    io.stderr(`${err.describe()}\n`);
    if (debug && err.debugDetail) io.stderr(`voidkey: debug: ${printable(err.debugDetail)}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr(`voidkey: ${EXIT_LABELS[ExitCode.Internal]}: ${printable(message)}\n`);
  if (debug && err instanceof Error && err.stack) io.stderr(printableLines(err.stack.split('\n')));
  return ExitCode.Internal;
}

/** Known even when parsing failed; flags after `--` belong to exec's command. */
function wantsDebug(args: readonly string[], env: CliIo['env']): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--debug') || isTruthyFlag(env.VOIDKEY_DEBUG);
}
