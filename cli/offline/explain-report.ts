import { printable, printableLines } from '../printable';
import type { Explanation } from './explain-token';

export const EXPLAIN_FORMATS = ['text', 'json'] as const;
export type ExplainFormat = (typeof EXPLAIN_FORMATS)[number];

const UNVERIFIED = 'the token\'s signature is NOT checked: this shows what the config grants such claims, not that they are genuine';

export function renderExplanation(explanation: Explanation, format: ExplainFormat): string {
  if (format === 'json') return `${JSON.stringify({ verified: false, ...explanation }, null, 2)}\n`;
  const { idp, issuer, chosenBy, subject, matched, keys, unmatched, otherIdpIdentities, refusals } = explanation;
  const how = chosenBy === 'iss' ? `chosen by the token's iss ${issuer}` : chosenBy === '--idp' ? `named by --idp; issuer ${issuer}` : `the config's default, as the claims have no iss; issuer ${issuer}`;
  const lines = [`note: ${UNVERIFIED}`, `idp:      ${idp} (${how})`, `subject:  ${subject}`, ''];

  lines.push(matched.length === 0 ? 'matching identities: none' : 'matching identities:');
  lines.push(...table(matched.map((identity) => [identity.name, `clientIdentities[${identity.index}]`, identity.by])));
  if (keys.length > 0) {
    lines.push('', 'keys it may mint:');
    lines.push(
      ...table(
        keys.map((key) => [
          key.name,
          `from ${key.identity}`,
          `provider ${key.provider}`,
          key.overrides.map((o) => `(also in ${o.identity}, which loses: ${o.why})`).join(' '),
          key.policies === undefined
            ? ''
            : `policies that could deny it: ${key.policies.active.join(', ') || 'none'}${key.policies.observe ? `; observe: ${key.policies.observe.join(', ') || 'none'}` : ''}`,
        ]),
      ),
    );
  }
  if (unmatched.length > 0) {
    lines.push('', 'identities that do not match:');
    for (const identity of unmatched) {
      lines.push(`  ${identity.name}  clientIdentities[${identity.index}]  ${identity.by}`);
      for (const reason of identity.reasons) lines.push(`    - ${reason}`);
    }
  }
  if (otherIdpIdentities > 0) lines.push('', `(${otherIdpIdentities} identit${otherIdpIdentities === 1 ? 'y' : 'ies'} of other IdPs not considered)`);
  if (refusals.length > 0) {
    lines.push('', 'the broker would refuse this token before matching:');
    for (const refusal of refusals) lines.push(`  - ${refusal}`);
  }
  // Names, subjects and claims come from the config and the token: no value may start a line.
  return printableLines(lines);
}

function table(cells: ReadonlyArray<readonly string[]>): string[] {
  // Escaped before measuring, so the columns line up as printed.
  const rows = cells.map((row) => row.map(printable));
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => `  ${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}
