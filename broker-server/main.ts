import { parseArgs } from 'node:util';
import { ConfigDirError, ConfigError, formatIssue, SigningKeyError } from '../broker-core';
import { configPathFromEnv } from './config-file';
import { createRuntime, fileSource, type Runtime } from './bootstrap';
import { createApp } from './create-app';
import { launch } from './launch';
import { warmUp } from './snapshot-warm-up';
import { createLogger } from './logger';

const USAGE = `usage: node dist/broker-server/main.js --config PATH [--port N] [--host ADDR]

  --config PATH   config.yaml to serve, or a folder holding one YAML file
                  (or VOIDKEY_CONFIG, or Voidkey's CONFIG_DIR)
  --port N        port to listen on (or PORT; default 3000; 0 picks a free port)
  --host ADDR     address to bind (or HOST; default 0.0.0.0)
  --log-level L   fatal|error|warn|info|debug (or LOG_LEVEL; default info)

Signals: SIGHUP reloads the config (an invalid file keeps the running one);
SIGTERM/SIGINT stop accepting, finish in-flight requests and exit.
`;

const DRAIN_TIMEOUT_MS = 30_000;

function fail(message: string): number {
  process.stderr.write(`voidkey-broker: ${message}\n`);
  return 2;
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: { config: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, 'log-level': { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
    }).values;
  } catch (err) {
    return fail(`${(err as Error).message}\n${USAGE}`);
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let configPath: string | undefined;
  try {
    configPath = args.config ?? configPathFromEnv(process.env);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (!configPath) return fail(`no config: pass --config FILE or set VOIDKEY_CONFIG (or CONFIG_DIR)\n${USAGE}`);
  const portText = args.port ?? process.env.PORT ?? '3000';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) return fail(`--port must be a number from 0 to 65535, not '${portText}'`);
  const logLevel = args['log-level'] ?? process.env.LOG_LEVEL ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) return fail(`unknown log level '${logLevel}'`);

  let runtime: Runtime;
  try {
    // The server writes the audit records of one event-loop turn together (group commit);
    // its logger holds log lines for the same write.
    runtime = createRuntime(fileSource(configPath), { logger: createLogger({ level: logLevel }), auditGroupCommit: true });
  } catch (err) {
    if (err instanceof ConfigDirError || err instanceof SigningKeyError) return fail(`cannot start: ${err.message}`);
    if (err instanceof ConfigError) return fail(`${configPath} is not a valid config:\n${err.issues.map((issue) => `  ${formatIssue(issue)}`).join('\n')}`);
    const code = (err as NodeJS.ErrnoException).code;
    return fail(`cannot start with ${configPath}: ${code ? `${code} ${(err as NodeJS.ErrnoException).path ?? ''}`.trim() : (err as Error).message}`);
  }
  const { logger } = runtime;
  // Lifecycle events (listening, reload, shutdown) print at any log level: operators and
  // supervisors rely on them.
  const lifecycle = logger.child({}, { level: 'info' });
  const app = await createApp(runtime);
  await app.listen({ port, host: args.host ?? process.env.HOST ?? '0.0.0.0' });
  const address = app.getHttpServer().address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  lifecycle.info({ port: boundPort, config: configPath, version: runtime.version }, 'voidkey broker listening');

  process.on('SIGHUP', () => {
    try {
      runtime.reload();
      lifecycle.info({ config: configPath, ...(runtime.broker.policy ? { policy: runtime.broker.policy.versions } : {}) }, 'config reloaded');
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues.map(formatIssue) : err instanceof SigningKeyError ? [err.message] : [(err as NodeJS.ErrnoException).code ?? (err as Error).message];
      logger.error({ config: configPath, issues }, 'config reload refused: the running config stays in force');
    }
  });
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    runtime.accepting = false;
    lifecycle.info({ signal }, 'shutting down: finishing in-flight requests');
    const server = app.getHttpServer();
    server.closeIdleConnections();
    // In-flight requests get the upstream deadline to finish; then the rest is cut.
    setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS).unref();
    void app.close().then(() => {
      runtime.close();
      lifecycle.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return -1;
}

launch(() =>
  main().then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(`voidkey-broker: failed to start: ${(err as Error)?.message ?? String(err)}\n`);
      process.exit(1);
    },
  ),
  warmUp,
);
