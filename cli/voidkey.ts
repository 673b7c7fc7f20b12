import { processIo } from './cli-io';
import { runCli } from './program';

// A reader that stops early (`voidkey list-keys | head -1`) is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`voidkey: internal error: cannot write to stdout: ${err.code ?? err.message}\n`);
  process.exit(1);
});

// Exit through exitCode, not process.exit(): stdout may be a pipe still being written.
void runCli(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
