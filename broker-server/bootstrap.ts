import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Broker, formatIssue, loadSigningKeys, systemClock, type LoadedConfig, type ProviderRegistry } from '../broker-core';
import { builtInProviders } from '../providers';
import { AuditLog } from './audit-log';
import { loadConfig } from '../broker-core';
import { createLogger, type Logger } from './logger';
import { configPathFromEnv, readPolicyPath, resolveConfigPath } from './config-file';
import { BrokerMetrics } from './metrics';
import { NodeHttpClient } from './node-http-client';
import { RateLimiter } from './rate-limiter';
import type { BrokerRuntime } from './runtime';

export interface ConfigSource {
  /** Shown in every config problem. */
  readonly name: string;
  read(): string;
}

/** A file, or a folder holding one YAML file (re-resolved on every read, so a reload sees the folder as it is). */
export function fileSource(path: string): ConfigSource {
  let file = resolveConfigPath(path);
  return {
    get name() {
      return file;
    },
    read: () => readFileSync((file = resolveConfigPath(path)), 'utf8'),
  };
}

/**
 * The config the environment names: `VOIDKEY_CONFIG_YAML` holds the YAML itself (handy
 * for a Lambda function), `VOIDKEY_CONFIG` a file path, Voidkey's `CONFIG_DIR` a folder
 * holding one YAML file. Setting two is refused rather than guessed; setting none throws.
 */
export function envSource(env: NodeJS.ProcessEnv = process.env): ConfigSource {
  const text = env.VOIDKEY_CONFIG_YAML;
  const path = configPathFromEnv(env);
  if (text && path) throw new Error('set VOIDKEY_CONFIG (a file path), CONFIG_DIR (a folder) or VOIDKEY_CONFIG_YAML (the YAML text), not two of them');
  if (text) return { name: 'VOIDKEY_CONFIG_YAML', read: () => text };
  if (path) return fileSource(path);
  throw new Error('no config: set VOIDKEY_CONFIG to a file path, CONFIG_DIR to a folder, or VOIDKEY_CONFIG_YAML to the YAML text');
}

const KEY_FILES = { stat: statSync, read: (path: string) => readFileSync(path, 'utf8'), platform: process.platform };

export interface Runtime extends BrokerRuntime {
  /** Re-reads and validates the config; on success swaps the broker, else throws and keeps the old one. */
  reload(): LoadedConfig;
  close(): void;
}

export function packageVersion(): string {
  // dist/broker-server/, the sources, or a bundle directory that carries its own package.json.
  for (const candidate of [join(__dirname, '../../package.json'), join(__dirname, '../package.json'), join(__dirname, 'package.json')]) {
    try {
      return (JSON.parse(readFileSync(candidate, 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (dist/ or a bundle)
    }
  }
  return 'unknown';
}

/** Builds everything the server needs from a config source. Throws ConfigError on an invalid config. */
export function createRuntime(source: ConfigSource, options: { env?: NodeJS.ProcessEnv; logger?: Logger; providers?: ProviderRegistry; auditGroupCommit?: boolean } = {}): Runtime {
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger({ level: env.LOG_LEVEL });
  const providers = options.providers ?? builtInProviders();
  // Policy files are read with the config, so a reload swaps both or neither.
  const load = () => {
    const text = source.read();
    const base = source.name === 'VOIDKEY_CONFIG_YAML' ? process.cwd() : dirname(source.name);
    return loadConfig(text, { fileName: source.name, env, providers, readPolicies: (path) => readPolicyPath(base, path) });
  };
  const loaded = load();
  for (const warning of loaded.warnings) logger.warn({ config: formatIssue(warning), code: warning.code }, 'config warning');

  const metrics = new BrokerMetrics();
  metrics.configLoaded(loaded.warnings);
  const http = new NodeHttpClient();
  const auditConfig = loaded.config.server?.audit ?? {};
  const audit = new AuditLog({
    stdout: auditConfig.stdout ?? true,
    file: auditConfig.file,
    failClosed: auditConfig.failClosed ?? false,
    signingKeyPem: auditConfig.signingKeyFile ? readFileSync(auditConfig.signingKeyFile, 'utf8') : undefined,
    logger,
    onWriteFailure: (sink) => metrics.auditWriteFailed(sink),
    groupCommit: options.auditGroupCommit ?? false,
  });
  // Signing keys are read with the config (start and SIGHUP reload): rotation is a config change.
  const makeBroker = ({ config, policies }: LoadedConfig) =>
    new Broker(config, {
      providers,
      http,
      clock: systemClock,
      audit: audit.write,
      observer: metrics.observer,
      readFile: (path) => readFileSync(path, 'utf8'),
      policies,
      ...(config.brokerIdentity ? { signingKeys: loadSigningKeys(config.brokerIdentity, KEY_FILES) } : {}),
    });
  const makeLimiter = (config: LoadedConfig['config']) => (config.server?.rateLimit ? new RateLimiter(config.server.rateLimit) : undefined);

  const runtime: Runtime = {
    broker: makeBroker(loaded),
    server: loaded.config.server ?? {},
    rateLimiter: makeLimiter(loaded.config),
    logger,
    metrics,
    audit,
    startedAt: Date.now(),
    version: packageVersion(),
    accepting: true,
    reload() {
      const next = load();
      runtime.broker = makeBroker(next);
      runtime.server = next.config.server ?? {};
      runtime.rateLimiter = makeLimiter(next.config);
      for (const warning of next.warnings) logger.warn({ config: formatIssue(warning), code: warning.code }, 'config warning');
      metrics.configLoaded(next.warnings);
      return next;
    },
    close() {
      audit.close();
      http.close();
    },
  };
  return runtime;
}
