import type { CliIo } from '../cli-io';
import { runCli } from '../program';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI's commands in this process with the given environment and real fetch. */
export async function runInProcess(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    env,
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    fetch: (input, init) => fetch(input, init),
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}
