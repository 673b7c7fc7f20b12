import { Option, type Command } from 'commander';
import type { CliIo } from '../cli-io';
import { UsageError } from '../errors';
import { ExitCode } from '../exit-codes';
import { offlineTools } from '../offline-tools';
import { printable } from '../printable';
import { readFileArg } from '../read-file-arg';

type VerifyValues = { readonly publicKey?: string; readonly partial?: boolean; readonly format: 'text' | 'json' };

export function registerAudit(program: Command, io: CliIo): void {
  const audit = program
    .command('audit')
    .summary('check the broker\'s audit trail offline: verify')
    .description('Work with the broker\'s audit trail (server.audit.file) on this machine.');
  audit
    .command('verify')
    .summary('check that an audit file\'s hash chain (and signatures) are intact')
    .description(
      'Read an audit file line by line and check its hash chain: every record follows the one before, nothing was changed, removed, inserted or reordered, and the file starts at record 0. With --public-key, every record must carry a valid Ed25519 signature. A cut-off tail leaves a valid chain: compare the printed last hash with one kept elsewhere.',
    )
    .argument('<file>', 'the audit file (JSON lines)')
    .option('--public-key <pem-file>', 'the broker\'s Ed25519 public key (PEM): every record must be signed by it')
    .option('--partial', 'the file continues another: it may start after record 0')
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nExit codes: 0 the chain is intact, 7 it is not (the first problem is printed), 2 usage.')
    .action((file: string, values: VerifyValues) => {
      const publicKeyPem = values.publicKey === undefined ? undefined : readFileArg(values.publicKey, 'the public key file');
      const tools = offlineTools();
      let verdict;
      try {
        verdict = tools.verifyAuditFile(file, { publicKeyPem, partial: values.partial === true });
      } catch (err) {
        // A system error (ENOENT, EACCES, EISDIR) from opening or reading the file.
        const { code, syscall } = err as NodeJS.ErrnoException;
        if (syscall !== undefined) throw new UsageError(`cannot read the audit file ${file}${code ? ` (${code})` : ''}`);
        throw err;
      }
      if (values.format === 'json') {
        io.stdout(`${JSON.stringify({ file, ...verdict }, null, 2)}\n`);
      } else if (verdict.ok) {
        io.stdout(`ok: ${verdict.records} records (${verdict.signed} signed), last hash ${printable(verdict.lastHash)}\n`);
        io.stdout(
          verdict.signaturesChecked
            ? `signatures: every record verified with ${printable(values.publicKey)}\n`
            : `signatures: not checked${verdict.signed > 0 ? ' (pass --public-key to check them)' : ''}\n`,
        );
      } else {
        io.stdout(`${printable(file)}:${verdict.line}: ${verdict.seq === undefined ? '' : `record ${verdict.seq}: `}${printable(verdict.problem)}\n`);
      }
      if (!verdict.ok) io.exitCode = ExitCode.Invalid;
    });
}
