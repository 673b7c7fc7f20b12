import { existsSync, readFileSync } from 'node:fs';
import { BrokerClient } from './broker-client';
import { parseBrokerUrl } from './broker-url';
import type { CliIo } from './cli-io';
import type { BrokerOptionValues, TokenOptionValues } from './common-options';
import { createDeadline, type Deadline } from './fetch-with-retry';
import { printable } from './printable';
import { decodeUnverifiedClaims, describeClaims } from './token-claims';
import { resolveToken, type ResolvedToken } from './token-source';

/** One command's run: its deadline, its broker client, its token. */
export interface Session {
  readonly deadline: Deadline;
  readonly debug: (message: string) => void;
  readonly client: () => BrokerClient;
  readonly token: () => Promise<ResolvedToken>;
}

export function openSession(values: BrokerOptionValues & TokenOptionValues, io: CliIo): Session {
  const deadline = createDeadline(values.timeout);
  const debug = debugEnabled(values, io.env)
    ? (message: string) => io.stderr(`voidkey: debug: ${printable(message)}\n`)
    : () => undefined;
  return {
    deadline,
    debug,
    client: () =>
      new BrokerClient({
        baseUrl: parseBrokerUrl(values.brokerUrl ?? io.env.VOIDKEY_BROKER_URL, values.allowHttp === true),
        fetch: io.fetch,
        deadline,
        debug,
      }),
    token: async () => {
      const resolved = await resolveToken(
        {
          token: values.token,
          tokenFile: values.tokenFile,
          tokenEnv: values.tokenEnv,
          audience: values.audience ?? (io.env.VOIDKEY_AUDIENCE || undefined),
        },
        { env: io.env, readFile: async (path) => readFileSync(path, 'utf8'), fileExists: existsSync, fetch: io.fetch, deadline, debug },
      );
      const claims = decodeUnverifiedClaims(resolved.token);
      debug(`token claims (unverified): ${claims === undefined ? 'not a JWT' : describeClaims(claims)}`);
      return resolved;
    },
  };
}

export function debugEnabled(values: { readonly debug?: boolean }, env: CliIo['env']): boolean {
  return values.debug === true || isTruthyFlag(env.VOIDKEY_DEBUG);
}

export function isTruthyFlag(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}
