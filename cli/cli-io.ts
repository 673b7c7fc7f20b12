/** The process as the CLI sees it, injected so commands run in tests without a real process. */
export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly fetch: typeof fetch;
  /** Set by a command whose exit code is not 0 without an error (exec: the child's). */
  exitCode?: number;
}

export function processIo(): CliIo {
  return {
    env: process.env,
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    // Resolved on first use: undici loads lazily, and --help never needs it.
    fetch: (input, init) => globalThis.fetch(input, init),
  };
}
