import { constants } from 'node:os';
import { printable } from './printable';

const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs a command with the given environment and the terminal's stdio, passes on the
 * signals a CI runner or a user sends, and resolves to the exit status a shell would
 * report: the child's code, 128 + signal number when a signal ended it, 127 when the
 * command does not exist and 126 when it cannot be executed.
 */
export async function runChild(
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  stderr: (text: string) => void,
): Promise<number> {
  // Loaded here, not at start: only exec spawns.
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => {
      child.kill(signal);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const finish = (status: number) => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      resolve(status);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      const status = err.code === 'ENOENT' ? 127 : 126;
      stderr(`voidkey: cannot run ${printable(command)}: ${printable(err.code === 'ENOENT' ? 'command not found' : (err.code ?? err.message))}\n`);
      finish(status);
    });
    child.once('exit', (code, signal) => {
      finish(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}
