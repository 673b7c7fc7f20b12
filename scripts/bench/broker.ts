import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_ARGS, startBrokerProcess } from '../../sandbox/broker-process';

/** A running broker process, however it was started. */
export interface StartedBroker {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<number | null>;
}

const PRINTS_INFO = new Set(['info', 'debug', 'trace']);

/**
 * Starts the real server as sandbox/broker-process.ts does. That helper learns the
 * ephemeral port from the info-level "voidkey broker listening" line, which a broker
 * started with `--log-level warn` never prints; for such levels the same command line
 * runs on a port chosen here, and readiness is `GET /healthz` answering 200.
 */
export async function startBroker(options: { config: string; env: Record<string, string>; logLevel: string }): Promise<StartedBroker> {
  if (PRINTS_INFO.has(options.logLevel)) {
    const broker = await startBrokerProcess({ config: options.config, env: options.env, args: ['--log-level', options.logLevel] });
    return { url: broker.url, child: broker.child, stop: () => broker.stop() };
  }
  const dir = mkdtempSync(join(tmpdir(), 'voidkey-broker-'));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, options.config);
  const port = await freePort();
  const child = spawn(process.execPath, [...SERVER_ARGS, '--config', configPath, '--port', String(port), '--host', '127.0.0.1', '--log-level', options.logLevel], {
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: string) => {
    if (output.length < 64 * 1024) output += chunk;
  };
  child.stdout!.setEncoding('utf8').on('data', collect);
  child.stderr!.setEncoding('utf8').on('data', collect);
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (gone) throw new Error(`broker exited with code ${child.exitCode} before listening:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`broker did not answer /healthz within 15 s:\n${output}`);
    }
    const ok = await fetch(`${url}/healthz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ok) break;
    await new Promise((done) => setTimeout(done, 25));
  }
  child.stdout!.removeListener('data', collect);
  child.stderr!.removeListener('data', collect);
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
