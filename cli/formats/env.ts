import type { MintResponse } from '../broker-client';
import { flattenCredentials } from './flatten-credentials';

/**
 * `export NAME='value'` lines for `eval "$(voidkey mint …)"`. Inside single quotes a
 * POSIX shell interprets nothing, so the only character to handle is `'` itself:
 * close the quote, add an escaped quote, reopen (`'\''`). Newlines, `$`, backticks,
 * `;` and `\` stay literal in sh, bash, dash, zsh and ksh.
 */
export function formatEnv(minted: MintResponse): string {
  let out = '';
  for (const [name, value] of flattenCredentials(minted)) out += `export ${name}=${shellQuote(value)}\n`;
  return out;
}

export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
