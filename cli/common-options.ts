import { InvalidArgumentError, Option, type Command } from 'commander';

export const DEFAULT_TIMEOUT_MS = 30_000;

/** What the options below parse into (commander camel-cases the flag names). */
export interface BrokerOptionValues {
  readonly brokerUrl?: string;
  readonly timeout: number;
  readonly allowHttp?: boolean;
  readonly debug?: boolean;
}

export interface TokenOptionValues {
  readonly token?: string;
  readonly tokenFile?: string;
  readonly tokenEnv?: string;
  readonly audience?: string;
}

const BROKER_GROUP = 'Broker options:';
const TOKEN_GROUP = 'Token options (tried in this order, see docs/cli.md):';

/**
 * Options every broker-facing command takes. They are declared on each command rather
 * than the program, so `voidkey mint --broker-url …` works as people type it.
 */
export function addBrokerOptions(command: Command): Command {
  return command
    .addOption(new Option('--broker-url <url>', 'broker base URL (env: VOIDKEY_BROKER_URL)').helpGroup(BROKER_GROUP))
    .addOption(
      new Option('--timeout <ms>', 'give up after this many milliseconds, token request and retries included')
        .default(DEFAULT_TIMEOUT_MS)
        .argParser(parseTimeout)
        .helpGroup(BROKER_GROUP),
    )
    .addOption(new Option('--allow-http', 'allow plain http to a broker that is not on loopback').helpGroup(BROKER_GROUP))
    .addOption(new Option('--debug', 'explain what happens on stderr; never prints tokens or credentials (env: VOIDKEY_DEBUG=1)').helpGroup(BROKER_GROUP));
}

export function addTokenOptions(command: Command): Command {
  return command
    .addOption(new Option('--token <jwt>', 'the OIDC token; visible in the process list, prefer VOIDKEY_OIDC_TOKEN or --token-file').helpGroup(TOKEN_GROUP))
    .addOption(new Option('--token-file <path>', 'read the OIDC token from this file').helpGroup(TOKEN_GROUP))
    .addOption(new Option('--token-env <name>', 'GitLab CI: the id_tokens variable that holds the token (default VOIDKEY_ID_TOKEN)').helpGroup(TOKEN_GROUP))
    .addOption(new Option('--audience <aud>', 'GitHub Actions: the audience to request the ID token for (env: VOIDKEY_AUDIENCE)').helpGroup(TOKEN_GROUP));
}

/** Timers overflow past 2^31 ms; an hour is more than any pipeline step should wait. */
const MAX_TIMEOUT_MS = 3_600_000;

function parseTimeout(value: string): number {
  const ms = parsePositiveInteger(value);
  if (ms > MAX_TIMEOUT_MS) throw new InvalidArgumentError(`at most ${MAX_TIMEOUT_MS} (an hour)`);
  return ms;
}

export function parsePositiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a positive whole number');
  }
  return Number(value);
}
