import type { MintRequest, MintResponse } from '../broker-client';
import { checkCredentialProcessKeys, formatCredentialProcess } from './credential-process';
import { formatDotenv } from './dotenv';
import { formatEnv } from './env';
import { githubFiles, renderGithub } from './github';
import { formatJson } from './json';

/** What a format may touch; the mint command provides the real process's. */
export interface FormatContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly appendFile: (path: string, text: string) => void;
  readonly newDelimiter: () => string;
}

export interface OutputFormat {
  /** Runs before minting: a request this format cannot print is refused before credentials exist. */
  readonly check?: (request: MintRequest, env: FormatContext['env']) => void;
  readonly emit: (minted: MintResponse, context: FormatContext) => void;
}

export const FORMAT_NAMES = ['env', 'dotenv', 'json', 'github', 'credential-process'] as const;

export type FormatName = (typeof FORMAT_NAMES)[number];

export const FORMATS: Readonly<Record<FormatName, OutputFormat>> = {
  env: { emit: (minted, { stdout }) => stdout(formatEnv(minted)) },
  dotenv: { emit: (minted, { stdout }) => stdout(formatDotenv(minted)) },
  json: { emit: (minted, { stdout }) => stdout(formatJson(minted)) },
  github: {
    check: (_request, env) => void githubFiles(env),
    emit: (minted, context) => {
      const files = githubFiles(context.env);
      const commands = renderGithub(minted, context.newDelimiter);
      context.stdout(commands.masks);
      context.appendFile(files.envPath, commands.envFile);
      if (files.outputPath !== undefined) context.appendFile(files.outputPath, commands.outputFile);
      const where = files.outputPath === undefined ? '$GITHUB_ENV' : '$GITHUB_ENV and $GITHUB_OUTPUT';
      context.stderr(`voidkey: exported ${commands.names.join(', ') || 'nothing'} to ${where}\n`);
    },
  },
  'credential-process': {
    check: (request) => checkCredentialProcessKeys(request.keys),
    emit: (minted, { stdout }) => stdout(formatCredentialProcess(minted)),
  },
};

