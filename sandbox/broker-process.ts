import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root, from src (sandbox) or from dist (dist/sandbox). */
export const REPO_ROOT = resolve(__dirname, __dirname.includes(`${join('dist', 'sandbox')}`) ? '../..' : '..');
/**
 * The server `npm start` and the container run: the bundle as one CommonJS script
 * started from its V8 startup snapshot (scripts/bundle-snapshot.mjs). `node SERVER_ENTRY`
 * alone runs the same bundle without the snapshot.
 */
export const SERVER_ENTRY = join(REPO_ROOT, 'dist/server/main.cjs');
export const SERVER_SNAPSHOT = join(REPO_ROOT, 'dist/server/main.blob');
/** node's arguments before the server's own: `node ...SERVER_ARGS --config FILE`. */
export const SERVER_ARGS: readonly string[] = ['--snapshot-blob', SERVER_SNAPSHOT, SERVER_ENTRY];
export const CLI_ENTRY = join(REPO_ROOT, 'dist/cli/voidkey.cjs');

export interface BrokerProcess {
  readonly url: string;
  readonly port: number;
  readonly configPath: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** The JSON log lines printed so far. */
  logLines(): Array<Record<string, unknown>>;
  /** The audit events printed so far. */
  auditEvents(): Array<Record<string, unknown>>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartBrokerOptions {
  /** The config file's text; written to a temporary file. */
  readonly config: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly args?: readonly string[];
  readonly startTimeoutMs?: number;
  /** Name the config's folder in `CONFIG_DIR` (Voidkey's way) instead of passing `--config FILE`. */
  readonly configDir?: boolean;
  /** Default 0 (any free port); a fixed one when the config names the broker's own URL (brokerIdentity.issuer). */
  readonly port?: number;
  /** node's arguments before the server's own; default SERVER_ARGS (the snapshot). */
  readonly node?: readonly string[];
}

/** Starts the real server (`node --snapshot-blob dist/server/main.blob dist/server/main.cjs`) on an ephemeral loopback port. */
export async function startBrokerProcess(options: StartBrokerOptions): Promise<BrokerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'voidkey-broker-'));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, options.config);
  const configArgs = options.configDir ? [] : ['--config', configPath];
  const child = spawn(process.execPath, [...(options.node ?? SERVER_ARGS), ...configArgs, '--port', String(options.port ?? 0), '--host', '127.0.0.1', ...(options.args ?? [])], {
    env: { PATH: process.env.PATH ?? '', ...(options.configDir ? { CONFIG_DIR: dir } : {}), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));

  const logLines = () =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  const port = await new Promise<number>((done, fail) => {
    const deadline = setTimeout(() => {
      clearInterval(poll);
      child.kill('SIGKILL'); // never leave an orphaned broker behind
      fail(new Error(`broker did not start within ${options.startTimeoutMs ?? 15_000} ms:\n${output}`));
    }, options.startTimeoutMs ?? 15_000);
    const poll = setInterval(() => {
      const listening = logLines().find((line) => line.msg === 'voidkey broker listening');
      if (listening) {
        clearInterval(poll);
        clearTimeout(deadline);
        done(listening.port as number);
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(poll);
      clearTimeout(deadline);
      fail(new Error(`broker exited with code ${code} before listening:\n${output}`));
    });
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    configPath,
    child,
    output: () => output,
    logLines,
    auditEvents: () => logLines().filter((line) => line.msg === 'audit').map((line) => line.audit as Record<string, unknown>),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real bundled CLI (`node dist/cli/voidkey.cjs`). */
export function runCli(args: readonly string[], options: { env?: Readonly<Record<string, string>>; input?: string; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...options.env },
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', fail);
    child.on('exit', (code) => done({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
