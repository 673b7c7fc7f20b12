import { Option, type Command } from 'commander';
import type { CliIo } from '../cli-io';
import { CliError, UsageError } from '../errors';
import { ExitCode } from '../exit-codes';
import { offlineTools } from '../offline-tools';
import { printable } from '../printable';
import { readConfigArg, readFileArg } from '../read-file-arg';

type ReplayValues = { readonly config: string; readonly policies: string; readonly format: 'text' | 'json' };

/**
 * `voidkey policy validate|replay`: offline, with the broker's own Cedar engine and
 * schema. cedar-wasm is required on first use by these commands only.
 */
export function registerPolicy(program: Command, io: CliIo): void {
  const policy = program
    .command('policy')
    .summary('check Cedar policies offline: validate, replay')
    .description('Work with the broker\'s Cedar policy guardrails (docs/policy.md) on this machine, without a broker.');
  policy
    .command('validate')
    .summary('check policy files against the shipped schema (strict mode)')
    .description('Parse and validate Cedar policy files (or folders of *.cedar) in strict mode against the schema the broker uses. Problems print as file:line:col: message.')
    .argument('<paths...>', '.cedar files or folders of them')
    .option('--strict', 'warnings fail too')
    .addHelpText('after', '\nExit codes: 0 every set is valid, 7 a set has errors (or warnings, with --strict), 2 a path cannot be read.')
    .action((paths: string[], values: { strict?: boolean }) => {
      const tools = offlineTools();
      let failed = false;
      for (const path of paths) {
        let sources;
        try {
          sources = tools.readPolicyPath(process.cwd(), path);
        } catch (err) {
          throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
        }
        try {
          const set = new tools.CedarPolicySet('validate', sources);
          for (const warning of set.warnings) io.stdout(`${printable(`${warning.file}:${warning.line}:${warning.column}: warning: ${warning.message}`)}\n`);
          io.stdout(`${printable(path)}: ${set.policies.length} polic${set.policies.length === 1 ? 'y' : 'ies'} valid (version ${set.version})\n`);
          if (values.strict === true && set.warnings.length > 0) failed = true;
        } catch (err) {
          if (!(err instanceof tools.PolicySetError)) throw err;
          for (const issue of err.issues) io.stdout(`${printable(`${issue.file}:${issue.line}:${issue.column}: ${issue.message}`)}\n`);
          failed = true;
        }
      }
      if (failed) io.exitCode = ExitCode.Invalid;
    });
  policy
    .command('replay')
    .summary('evaluate a candidate policy set over a recorded audit file')
    .description(
      'Decide every key of every recorded request again with a candidate policy set (claims and context from the audit events, key attributes and tags from the config) and report what it would newly deny or newly allow, with a table of them. Gate a policy pull request on last week\'s real traffic.',
    )
    .argument('<audit-file>', 'the broker\'s audit file (server.audit.file), or its stdout log lines')
    .requiredOption('--config <file>', 'the broker config the candidate will run with')
    .requiredOption('--policies <path>', 'the candidate: a .cedar file or a folder of them')
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
Exit codes: 0 no decision changes, 7 some decision changes (or the config or the
candidate is invalid), 2 a file cannot be read.

Example:
  voidkey policy replay --config config.yaml --policies policies/candidate.cedar audit.jsonl`,
    )
    .action((auditFile: string, values: ReplayValues) => {
      readFileArg(auditFile, 'the audit file'); // a missing file is a usage error before any work
      const tools = offlineTools();
      const { file, text } = readConfigArg(values.config);
      const check = tools.checkConfig(text, { fileName: file, env: io.env });
      if (check.config === undefined) {
        throw new CliError(ExitCode.Invalid, [`${values.config} is not a valid config (voidkey config validate ${values.config} lists every problem):`, ...[...check.errors, ...check.notes].map(tools.formatIssue)]);
      }
      let sources;
      try {
        sources = tools.readPolicyPath(process.cwd(), values.policies);
      } catch (err) {
        throw new UsageError(`cannot read ${values.policies}: ${(err as Error).message}`);
      }
      let candidate;
      try {
        candidate = new tools.CedarPolicySet('candidate', sources);
      } catch (err) {
        if (!(err instanceof tools.PolicySetError)) throw err;
        throw new CliError(ExitCode.Invalid, ['the candidate policy set is invalid:', ...err.issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.message}`)]);
      }
      const report = tools.replayAudit(auditFile, check.config, candidate);
      io.stdout(tools.renderReplay(report, values.format, printable));
      if (report.newlyDenied.length + report.newlyAllowed.length > 0) io.exitCode = ExitCode.Invalid;
    });
}
