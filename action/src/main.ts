import type * as Core from '@actions/core' with { 'resolution-mode': 'import' };
import { BrokerClient } from '../../cli/broker-client';
import { parseBrokerUrl } from '../../cli/broker-url';
import { CliError, TokenError, UsageError } from '../../cli/errors';
import { createDeadline } from '../../cli/fetch-with-retry';
import { flattenCredentials } from '../../cli/formats/flatten-credentials';
import { maskedLines } from '../../cli/formats/github';
import { printable } from '../../cli/printable';
import { readInputs } from './inputs';

/**
 * The Voidkey GitHub Action: the job's OIDC token in, masked credentials out as
 * environment variables and step outputs. The broker client, the request rules, the
 * variable-name checks and the masking are the CLI's, so the Action behaves like
 * `voidkey mint --format github`.
 */
async function run(core: typeof Core): Promise<void> {
  const inputs = readInputs((name) => core.getInput(name));
  const baseUrl = brokerUrl(inputs.brokerUrl);
  const deadline = createDeadline(inputs.timeoutMs);
  let token: string;
  try {
    // Masks the token itself, too.
    token = await core.getIDToken(inputs.audience);
  } catch (err) {
    throw new TokenError(
      `cannot get the job's OIDC token from GitHub (${err instanceof Error ? err.message.replace(/\s+/g, ' ').trim() : 'unknown error'}); give the job \`permissions: id-token: write\``,
    );
  }
  const client = new BrokerClient({ baseUrl, fetch: (input, init) => fetch(input, init), deadline, debug: (message) => core.debug(message) });
  const minted = await client.mint(token, inputs.request);
  // Checks every name and value before anything is printed or written.
  const credentials = flattenCredentials(minted);
  for (const value of credentials.values()) {
    for (const line of maskedLines(value)) core.setSecret(line);
  }
  for (const [name, value] of credentials) {
    core.exportVariable(name, value);
    core.setOutput(name, value);
  }
  const expiry = Object.values(minted).map((key) => key.expiresAt).sort()[0];
  core.info(`voidkey: exported ${[...credentials.keys()].join(', ') || 'nothing'} to the environment and the step's outputs${expiry ? `; the first expires at ${printable(expiry)}` : ''}`);
}

/** The CLI's rules (https, or http to loopback), in the Action's words. */
function brokerUrl(raw: string): URL {
  try {
    return parseBrokerUrl(raw, false);
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`broker-url: ${err.message.replace(/, or pass --allow-http.*$/, '')}`);
    throw err;
  }
}

/** One line, with the broker's reason and request id when there is one; never a stack, a token or a credential. */
function describeFailure(err: unknown): string {
  if (err instanceof CliError) return err.describe();
  return `voidkey: internal error: ${err instanceof Error ? err.message : String(err)}`;
}

void import('@actions/core').then((core) =>
  run(core).catch((err: unknown) => {
    core.setFailed(describeFailure(err));
  }),
);
