import { Option, type Command } from 'commander';
import type { CliIo } from '../cli-io';
import { CliError, TokenError, UsageError } from '../errors';
import { ExitCode } from '../exit-codes';
import { offlineTools } from '../offline-tools';
import { collect, readConfigArg, readFileArg } from '../read-file-arg';
import { decodeUnverifiedClaims } from '../token-claims';

interface EnvValues {
  readonly envFile?: readonly string[];
}

type ValidateValues = EnvValues & { readonly format: 'text' | 'json' | 'github'; readonly strict?: boolean; readonly requireEnv?: boolean };

type ExplainValues = EnvValues & {
  readonly token?: string;
  readonly tokenFile?: string;
  readonly claims?: string;
  readonly idp?: string;
  readonly format: 'text' | 'json';
};

export function registerConfig(program: Command, io: CliIo): void {
  const config = program
    .command('config')
    .summary('check a broker config offline: validate, explain, schema')
    .description('Check a broker config file on this machine, without a broker: validate it as the broker would load it, or explain what it grants a token.');
  registerValidate(config, io);
  registerExplain(config, io);
  registerSchema(config, io);
}

function registerSchema(config: Command, io: CliIo): void {
  config
    .command('schema')
    .summary('print the JSON Schema of the config this build accepts')
    .description(
      'Print the JSON Schema (draft-07) of the broker config this build accepts, provider types included, with a description and examples for every field: point an editor at it (the yaml-language-server modeline `# yaml-language-server: $schema=PATH`) for completion, hover help and checks as you type. `voidkey config validate` remains the full check (cross-references, lint, ${VAR}s).',
    )
    .addHelpText(
      'after',
      `
Examples:
  voidkey config schema > voidkey-config.schema.json
  # then start config.yaml with: # yaml-language-server: $schema=voidkey-config.schema.json`,
    )
    .action(() => {
      io.stdout(`${JSON.stringify(offlineTools().configSchema(), null, 2)}\n`);
    });
}

function envFileOption(): Option {
  return new Option('--env-file <path>', 'read ${VAR} values from this .env file (repeatable; over the environment)').argParser(collect);
}

function registerValidate(config: Command, io: CliIo): void {
  config
    .command('validate')
    .summary('check config files as the broker would load them')
    .description(
      'Check config files with the broker\'s own loader: YAML, schema, provider schemas, cross-references and lint. Errors print as file:line:col: path: message (as the broker prints them at start), warnings as file:line:col: warning: …. An unset ${VAR} is a note, not an error, unless --require-env: a pull-request check has no secrets.',
    )
    .argument('<files...>', 'config files (a folder holding one YAML file counts as that file, as CONFIG_DIR does for the broker)')
    .addOption(new Option('--format <format>', 'text, json, or github (annotations on the pull request)').choices(['text', 'json', 'github']).default('text'))
    .option('--strict', 'warnings fail too')
    .addOption(envFileOption())
    .option('--require-env', 'an unset ${VAR} is an error, as when the broker starts')
    .addHelpText(
      'after',
      `
Exit codes: 0 every file is valid, 7 a file is invalid (or has warnings, with --strict),
2 a file cannot be read.

Examples:
  voidkey config validate config.yaml
  voidkey config validate --strict --format github deploy/*.yaml      # in a pull-request check
  voidkey config validate --require-env --env-file prod.env config.yaml`,
    )
    .action((files: string[], values: ValidateValues) => {
      const texts = files.map((path) => readConfigArg(path)).map(({ file, text }) => [file, text] as const);
      const tools = offlineTools();
      const env = environment(values, io);
      const checks = texts.map(([file, text]) => tools.checkConfig(text, { fileName: file, env, requireEnv: values.requireEnv === true }));
      io.stdout(tools.renderValidation(checks, values.format, values.strict === true));
      if (!checks.every((check) => tools.passes(check, values.strict === true))) io.exitCode = ExitCode.Invalid;
    });
}

function registerExplain(config: Command, io: CliIo): void {
  config
    .command('explain')
    .summary('show which identities and keys a config grants a token, and why not')
    .description(
      'Offline: decode a token\'s claims (the signature is NOT checked), pick the IdP by its iss (or --idp), and show which identities match, the keys they grant (exact subjects win over patterns, then file order), and for every other identity of that IdP why it does not match.',
    )
    .argument('<file>', 'the config file')
    .option('--token <jwt>', 'the token whose claims to explain (visible in the process list: prefer --token-file)')
    .option('--token-file <path>', 'read the token from this file')
    .option('--claims <json>', 'the claims as JSON, or @FILE to read them from a file')
    .option('--idp <name>', 'the IdP to explain against (default: the one whose issuer is the token\'s iss)')
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .addOption(envFileOption())
    .addHelpText(
      'after',
      `
Exit codes: 0 an identity matches, 4 none does, 3 the token cannot be decoded or its
issuer is unknown, 7 the config is invalid, 2 usage.

Examples:
  voidkey config explain config.yaml --token-file token.jwt
  voidkey config explain config.yaml --claims '{"iss":"https://token.actions.githubusercontent.com","sub":"repo:acme/app:ref:refs/heads/main","repository_id":"123456"}'`,
    )
    .action((file: string, values: ExplainValues) => {
      const claims = readClaims(values);
      const { file: configFile, text } = readConfigArg(file);
      const tools = offlineTools();
      const check = tools.checkConfig(text, { fileName: configFile, env: environment(values, io) });
      if (check.config === undefined && check.errors.length > 0) {
        throw new CliError(ExitCode.Invalid, [`${file} is not a valid config (voidkey config validate ${file} lists every problem):`, ...check.errors.map(tools.formatIssue)]);
      }
      if (check.config === undefined) {
        // Only values of unset variables stand in the way (a GUID cannot be a placeholder).
        throw new UsageError([`${file} cannot be loaded without the variables it references: set them or pass --env-file`, ...check.notes.map(tools.formatIssue)]);
      }
      const policies = check.policies && { active: check.policies.active?.policies ?? [], ...(check.policies.observe ? { observe: check.policies.observe.policies } : {}) };
      const explanation = tools.explainToken({ config: check.config, claims, idpName: values.idp, now: Date.now(), ...(policies ? { policies } : {}) });
      io.stdout(tools.renderExplanation(explanation, values.format));
      if (explanation.matched.length === 0) io.exitCode = ExitCode.Denied;
    });
}

function readClaims(values: ExplainValues): Record<string, unknown> {
  const given = [values.token, values.tokenFile, values.claims].filter((value) => value !== undefined).length;
  if (given !== 1) throw new UsageError('give the token with exactly one of --token, --token-file or --claims');
  if (values.claims !== undefined) {
    const json = values.claims.startsWith('@') ? readFileArg(values.claims.slice(1), 'the claims file') : values.claims;
    let claims: unknown;
    try {
      claims = JSON.parse(json);
    } catch {
      throw new UsageError('--claims: not valid JSON');
    }
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) throw new UsageError('--claims: expected a JSON object');
    return claims as Record<string, unknown>;
  }
  const token = (values.token ?? readFileArg(values.tokenFile!, 'the token file')).trim();
  const claims = decodeUnverifiedClaims(token);
  if (claims === undefined) throw new TokenError('the token is not a JWT whose payload is a JSON object');
  return claims;
}

function environment(values: EnvValues, io: CliIo): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...io.env };
  if (values.envFile === undefined) return env;
  const { parseEnvFile } = offlineTools();
  for (const path of values.envFile) Object.assign(env, parseEnvFile(readFileArg(path, 'the env file'), path));
  return env;
}
