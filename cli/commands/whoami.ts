import type { Command } from 'commander';
import type { CliIo } from '../cli-io';
import { addBrokerOptions, addTokenOptions, type BrokerOptionValues, type TokenOptionValues } from '../common-options';
import { CliError } from '../errors';
import { printableLines } from '../printable';
import { openSession } from '../session';
import { decodeUnverifiedClaims, describeClaims } from '../token-claims';

type WhoamiValues = BrokerOptionValues & TokenOptionValues & { readonly json?: boolean };

export function registerWhoami(program: Command, io: CliIo): void {
  const command = program
    .command('whoami')
    .summary('show what the broker sees for this token')
    .description(
      'Show where the token came from, its (unverified) issuer, audience and subject, and what the broker makes of it: the IdP, the subject, the identities it matches and the keys it may mint.',
    )
    .option('--json', 'print as JSON');
  addBrokerOptions(addTokenOptions(command));
  command.action(async (values: WhoamiValues) => {
    const session = openSession(values, io);
    const client = session.client();
    const { token, source } = await session.token();
    const claims = decodeUnverifiedClaims(token);
    const local = claims === undefined ? 'not a JWT' : describeClaims(claims);
    let answer;
    try {
      answer = await client.listKeys(token);
    } catch (err) {
      // What the token claims is the most useful clue when the broker refuses it.
      if (err instanceof CliError && values.json !== true) io.stderr(printableLines([`token:      ${source}`, `claims:     ${local} (unverified)`]));
      throw err;
    }
    if (values.json === true) {
      io.stdout(
        `${JSON.stringify(
          {
            tokenSource: source,
            idp: answer.idp,
            subject: answer.subject,
            identities: answer.identities,
            keys: answer.keys.map((key) => key.name),
          },
          null,
          2,
        )}\n`,
      );
      return;
    }
    // The claims and the broker's answer are not ours: no value may start a line.
    io.stdout(
      printableLines([
        `token:      ${source}`,
        `claims:     ${local} (unverified)`,
        `idp:        ${answer.idp}`,
        `subject:    ${answer.subject}`,
        `identities: ${(answer.identities ?? []).join(', ') || '(none)'}`,
        `keys:       ${answer.keys.map((key) => key.name).join(', ') || '(none)'}`,
      ]),
    );
  });
}
