import type { MintResponse } from '../broker-client';
import { flattenCredentials } from './flatten-credentials';

/**
 * `NAME="value"` lines for `.env` files (docker compose `--env-file`, dotenv, direnv's
 * dotenv). Double quotes keep the value on one line: `\` `"` `$` are escaped and
 * newlines written as `\n` (carriage returns as `\r`), which those readers expand back.
 */
export function formatDotenv(minted: MintResponse): string {
  let out = '';
  for (const [name, value] of flattenCredentials(minted)) out += `${name}="${dotenvEscape(value)}"\n`;
  return out;
}

export function dotenvEscape(value: string): string {
  return value.replace(/[\\"$\n\r]/g, (c) => DOTENV_ESCAPES[c] ?? c);
}

const DOTENV_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '"': '\\"',
  $: '\\$',
  '\n': '\\n',
  '\r': '\\r',
};
