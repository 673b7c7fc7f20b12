import type { MintResponse } from '../broker-client';
import { UsageError } from '../errors';
import { flattenCredentials } from './flatten-credentials';

export interface GithubCommands {
  /** `::add-mask::` lines, printed to stdout before anything else. */
  readonly masks: string;
  /** Appended to $GITHUB_ENV. */
  readonly envFile: string;
  /** Appended to $GITHUB_OUTPUT: one output per variable, named like it. */
  readonly outputFile: string;
  readonly names: readonly string[];
}

/**
 * GitHub Actions workflow commands for the minted credentials. Every value is masked
 * line by line (the runner masks single lines only), and every file entry uses the
 * heredoc form `NAME<<DELIMITER` with a random delimiter that does not occur in the
 * value, so no value can end its entry early and inject another variable.
 */
export function renderGithub(minted: MintResponse, newDelimiter: () => string): GithubCommands {
  const env = flattenCredentials(minted);
  let masks = '';
  let entries = '';
  for (const [name, value] of env) {
    for (const line of maskedLines(value)) masks += `::add-mask::${escapeCommandData(line)}\n`;
    entries += heredoc(name, value, newDelimiter);
  }
  return { masks, envFile: entries, outputFile: entries, names: [...env.keys()] };
}

/**
 * What to mask of one value: each of its lines, since the runner masks line by line
 * (a multi-line secret registered whole would appear unmasked). Blank lines are
 * skipped: masking whitespace would star out every log line.
 */
export function maskedLines(value: string): string[] {
  return value.split(/\r?\n/).filter((line) => line.trim() !== '');
}

function heredoc(name: string, value: string, newDelimiter: () => string): string {
  let delimiter = newDelimiter();
  while (value.includes(delimiter) || name.includes(delimiter)) delimiter = newDelimiter();
  return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
}

/** The runner unescapes these in a command's data (actions/toolkit `escapeData`). */
export function escapeCommandData(value: string): string {
  return value.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

export interface GithubFiles {
  readonly envPath: string;
  readonly outputPath?: string;
}

export function githubFiles(env: Readonly<Record<string, string | undefined>>): GithubFiles {
  const envPath = env.GITHUB_ENV;
  if (!envPath) {
    throw new UsageError('--format github needs $GITHUB_ENV: run it in a GitHub Actions step, or choose another --format');
  }
  return { envPath, outputPath: env.GITHUB_OUTPUT || undefined };
}
