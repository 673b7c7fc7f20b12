import { Option, type Command } from 'commander';
import type { CliIo } from '../cli-io';
import { CliError, UsageError } from '../errors';
import { ExitCode } from '../exit-codes';
import { offlineTools } from '../offline-tools';
import { readConfigArg } from '../read-file-arg';

type KeyType = 'ec-p256' | 'rsa2048' | 'rsa3072';

export function registerIssuer(program: Command, io: CliIo): void {
  const issuer = program
    .command('issuer')
    .summary("the broker's own issuer: signing keys, JWKS, cloud-side trust")
    .description("Tools for brokerIdentity (docs/issuer.md): write a signing key, print the public JWKS, print what each cloud must be told to trust the broker's tokens for a key.");

  issuer
    .command('keygen')
    .summary('write a new signing key (PEM, mode 0600)')
    .requiredOption('--out <path>', 'the file to write (never overwritten)')
    .addOption(new Option('--type <type>', 'ec-p256 (ES256), rsa2048 or rsa3072 (RS256)').choices(['ec-p256', 'rsa2048', 'rsa3072']).default('ec-p256'))
    .addHelpText('after', `
Exit codes: 0 written, 2 usage or the file exists / cannot be written.

Example:
  voidkey issuer keygen --out /etc/voidkey/keys/next.pem     # then: publish, promote, retire (docs/issuer.md)`)
    .action((values: { out: string; type: KeyType }) => {
      // node:crypto lives in the offline tools: `voidkey --help` and `mint` never load it.
      const written = offlineTools().writeSigningKey(values.out, values.type);
      if (!written.ok) throw new UsageError(`cannot write ${values.out} (${written.code}): keygen never overwrites a file`);
      io.stdout(`${values.out}: ${values.type} key, kid ${written.kid}\n`);
    });

  issuer
    .command('jwks')
    .summary('print the public JWKS of the config\'s signing keys')
    .requiredOption('--config <path>', 'the broker config')
    .addHelpText('after', `
Prints what GET /.well-known/jwks.json serves: for a GCP pool provider that cannot reach
the broker (--jwk-json-path). Exit codes: 0, 7 invalid config or key, 2 usage.`)
    .action((values: { config: string }) => {
      const tools = offlineTools();
      io.stdout(`${JSON.stringify(withIssuerErrors(() => tools.issuerJwks(loadConfig(values.config, io))), null, 2)}\n`);
    });

  issuer
    .command('trust')
    .summary('print the cloud-side trust for one key')
    .requiredOption('--config <path>', 'the broker config')
    .requiredOption('--key <KEY>', 'the key (its token\'s sub is voidkey:key:<KEY>)')
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .addHelpText('after', `
AWS: the IAM OIDC provider command and the role trust policy pinned to sub and aud.
GCP: the pool provider command with its attribute mapping, and the service account grant.
Azure: the app's federated credential JSON. MinIO: its OpenID settings.
Exit codes: 0, 7 the config is invalid or the key does not use tokenSource self, 2 usage.

Example:
  voidkey issuer trust --config config.yaml --key AWS_DEPLOY`)
    .action((values: { config: string; key: string; format: 'text' | 'json' }) => {
      const tools = offlineTools();
      const trust = withIssuerErrors(() => tools.issuerTrust(loadConfig(values.config, io), values.key));
      io.stdout(values.format === 'json' ? `${JSON.stringify(trust, null, 2)}\n` : tools.renderTrust(trust));
    });
}

function loadConfig(path: string, io: CliIo) {
  const { file, text } = readConfigArg(path);
  const tools = offlineTools();
  const check = tools.checkConfig(text, { fileName: file, env: io.env, requireEnv: false });
  if (check.config === undefined) {
    throw new CliError(ExitCode.Invalid, [`${file} is not a valid config (voidkey config validate ${file} lists every problem):`, ...[...check.errors, ...check.notes].map(tools.formatIssue)]);
  }
  return check.config;
}

function withIssuerErrors<T>(run: () => T): T {
  const tools = offlineTools();
  try {
    return run();
  } catch (err) {
    if (err instanceof tools.IssuerConfigMissing || err instanceof tools.SigningKeyError) throw new CliError(ExitCode.Invalid, err.message);
    throw err;
  }
}
