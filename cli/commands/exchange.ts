import { chmodSync, writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import type { CliIo } from '../cli-io';
import { addBrokerOptions, addTokenOptions, type BrokerOptionValues, type TokenOptionValues } from '../common-options';
import { parseBrokerUrl } from '../broker-url';
import { UsageError } from '../errors';
import { openSession } from '../session';

type ExchangeValues = BrokerOptionValues & TokenOptionValues & { readonly key: string; readonly scope?: string; readonly requestedTokenType?: string };

/** `voidkey exchange`: RFC 8693 token exchange of one key, the answer printed as JSON. */
export function registerExchange(program: Command, io: CliIo): void {
  const command = program
    .command('exchange')
    .summary('exchange the OIDC token for one key\'s token (RFC 8693) and print the answer')
    .description('POST /oauth2/token for one key whose credential is a single token (GCP, Azure, broker-jwt) and print the RFC 8693 answer {access_token, issued_token_type, token_type, expires_in} as JSON on stdout.')
    .addOption(new Option('--key <name>', 'the key to exchange for').makeOptionMandatory())
    .addOption(new Option('--scope <scopes>', 'space-separated scopes, each among the key\'s'))
    .addOption(new Option('--requested-token-type <urn>', 'urn:ietf:params:oauth:token-type:access_token or …:jwt'));
  addBrokerOptions(addTokenOptions(command));
  command.addHelpText('after', `
Examples:
  voidkey exchange --key GCP_DEPLOY | jq -r .access_token
  voidkey exchange --key VAULT_JWT --requested-token-type urn:ietf:params:oauth:token-type:jwt`);
  command.action(async (values: ExchangeValues) => {
    const session = openSession(values, io);
    const client = session.client();
    const { token } = await session.token();
    const answer = await client.exchange(token, values.key, {
      ...(values.scope === undefined ? {} : { scope: values.scope }),
      ...(values.requestedTokenType === undefined ? {} : { requestedTokenType: values.requestedTokenType }),
    });
    io.stdout(`${JSON.stringify(answer, null, 2)}\n`);
  });
}

type ConfigValues = Pick<BrokerOptionValues, 'brokerUrl' | 'allowHttp'> & { readonly key: string; readonly tokenSource?: string; readonly output?: string; readonly audience?: string; readonly tokenEnv?: string };

/**
 * `voidkey gcp-credential-config`: a Google `external_account` credential file whose
 * token_url is the broker. No service-account impersonation URL: the broker answers the
 * key's final access token, which Google's libraries use as is and refresh on their own.
 */
export function registerGcpCredentialConfig(program: Command, io: CliIo): void {
  const command = program
    .command('gcp-credential-config')
    .summary('write a Google external_account credential file that fetches a GCP key\'s token from the broker')
    .description('Print (or write with --output) an external_account credential file for Google client libraries and gcloud: token_url is the broker\'s /oauth2/token, audience the key, credential_source where the CI token is read from. The file holds no credential unless --token-source gitlab (the token is written beside it, mode 0600).')
    .addOption(new Option('--key <name>', 'the GCP key').makeOptionMandatory())
    .addOption(new Option('--token-source <source>', 'github | gitlab | file:PATH | url:URL (default: github in GitHub Actions, gitlab in GitLab CI)'))
    .addOption(new Option('--audience <aud>', 'GitHub Actions: the audience of the ID token (env: VOIDKEY_AUDIENCE)'))
    .addOption(new Option('--token-env <name>', 'GitLab CI: the id_tokens variable that holds the token (default VOIDKEY_ID_TOKEN)'))
    .addOption(new Option('--output <file>', 'write the file here (mode 0600) instead of stdout'))
    .addOption(new Option('--broker-url <url>', 'broker base URL (env: VOIDKEY_BROKER_URL)'))
    .addOption(new Option('--allow-http', 'allow plain http to a broker that is not on loopback'));
  command.addHelpText('after', `
Examples:
  voidkey gcp-credential-config --key GCP_DEPLOY --output gcp.json && export GOOGLE_APPLICATION_CREDENTIALS=$PWD/gcp.json
  voidkey gcp-credential-config --key GCP_DEPLOY --token-source file:/var/run/secrets/tokens/voidkey`);
  command.action((values: ConfigValues) => {
    const base = parseBrokerUrl(values.brokerUrl ?? io.env.VOIDKEY_BROKER_URL, values.allowHttp === true);
    const file = {
      type: 'external_account',
      audience: `urn:voidkey:key:${values.key}`,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: new URL('oauth2/token', base).href,
      credential_source: credentialSource(values, io),
    };
    const text = `${JSON.stringify(file, null, 2)}\n`;
    if (values.output === undefined) {
      io.stdout(text);
      return;
    }
    writeFileSync(values.output, text, { mode: 0o600 });
    chmodSync(values.output, 0o600);
  });
}

function credentialSource(values: ConfigValues, io: CliIo): Record<string, unknown> {
  const source = values.tokenSource ?? (io.env.GITHUB_ACTIONS === 'true' ? 'github' : io.env.GITLAB_CI === 'true' ? 'gitlab' : undefined);
  if (source === undefined) throw new UsageError('name where the CI token comes from: --token-source github|gitlab|file:PATH|url:URL');
  if (source.startsWith('file:') && source.length > 5) return { file: source.slice(5) };
  if (source.startsWith('url:') && source.length > 4) {
    const url = source.slice(4);
    if (!URL.canParse(url)) throw new UsageError('--token-source url: needs an absolute URL');
    return { url, format: { type: 'text' } };
  }
  if (source === 'github') {
    const url = io.env.ACTIONS_ID_TOKEN_REQUEST_URL;
    const bearer = io.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
    if (!url || !bearer) throw new UsageError("GitHub Actions' ID-token endpoint is not available: give the job 'permissions: id-token: write'");
    const audience = values.audience ?? (io.env.VOIDKEY_AUDIENCE || undefined);
    const withAudience = new URL(url);
    if (audience !== undefined) withAudience.searchParams.set('audience', audience);
    return { url: withAudience.href, headers: { Authorization: `Bearer ${bearer}` }, format: { type: 'json', subject_token_field_name: 'value' } };
  }
  if (source === 'gitlab') {
    const variable = values.tokenEnv ?? 'VOIDKEY_ID_TOKEN';
    const token = io.env[variable];
    if (!token) throw new UsageError(`GitLab CI: the id_tokens variable ${variable} is not set`);
    if (values.output === undefined) throw new UsageError('--token-source gitlab writes the token beside the file: give --output');
    const path = `${values.output}.token`;
    writeFileSync(path, token, { mode: 0o600 });
    return { file: path };
  }
  throw new UsageError(`unknown --token-source '${source.slice(0, 64)}': github, gitlab, file:PATH or url:URL`);
}
