import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Broker, ConfigError, formatIssue, systemClock } from '../broker-core';
import { builtInProviders } from '../providers';
import { loadConfigFile } from './config-file';
import { createApp } from './create-app';
import { createLogger } from './logger';
import { NodeHttpClient } from './node-http-client';
import type { BrokerRuntime } from './runtime';

const USAGE = `usage: voidkey-broker --config FILE [--port N] [--host ADDR]

  --config FILE   config.yaml to serve (or VOIDKEY_CONFIG)
  --port N        port to listen on (or PORT; default 3000)
  --host ADDR     address to bind (or HOST; default 0.0.0.0)
  --log-level L   fatal|error|warn|info|debug (or LOG_LEVEL; default info)
`;

function version(): string {
  try {
    return (JSON.parse(readFileSync(`${__dirname}/../../package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`voidkey-broker: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const configPath = args.config ?? process.env.VOIDKEY_CONFIG;
  if (!configPath) {
    process.stderr.write(`voidkey-broker: no config: pass --config FILE or set VOIDKEY_CONFIG\n${USAGE}`);
    return 2;
  }
  const portText = args.port ?? process.env.PORT ?? '3000';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) {
    process.stderr.write(`voidkey-broker: --port must be a number from 0 to 65535, not '${portText}'\n`);
    return 2;
  }
  const logger = createLogger({ level: args['log-level'] ?? process.env.LOG_LEVEL });
  const providers = builtInProviders();
  let loaded;
  try {
    loaded = loadConfigFile(configPath, providers);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`voidkey-broker: ${configPath} is not a valid config:\n${err.issues.map((issue) => `  ${formatIssue(issue)}`).join('\n')}\n`);
      return 2;
    }
    process.stderr.write(`voidkey-broker: cannot read ${configPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return 2;
  }
  for (const warning of loaded.warnings) logger.warn({ config: formatIssue(warning) }, 'config warning');

  const http = new NodeHttpClient();
  const audit = (event: unknown) => logger.info({ audit: event }, 'audit');
  const runtime: BrokerRuntime = {
    broker: new Broker(loaded.config, { providers, http, clock: systemClock, audit }),
    logger,
    startedAt: Date.now(),
    version: version(),
  };
  const app = await createApp(runtime);
  await app.listen({ port, host: args.host ?? process.env.HOST ?? '0.0.0.0' });
  const address = app.getHttpServer().address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  logger.info({ port: boundPort, config: configPath, version: runtime.version }, 'voidkey broker listening');

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    void app.close().then(() => {
      http.close();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`voidkey-broker: failed to start: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  },
);
