import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MintedKey, MintResponse } from '../broker-client';
import { CliError } from '../errors';
import { ExitCode } from '../exit-codes';
import { HOSTILE_VALUES } from '../test-support/fake-broker';
import { formatCredentialProcess } from './credential-process';
import { dotenvEscape, formatDotenv } from './dotenv';
import { formatEnv, shellQuote } from './env';
import { flattenCredentials } from './flatten-credentials';
import { escapeCommandData, renderGithub } from './github';
import { formatJson } from './json';

function key(credentials: Record<string, string>, metadata: Partial<MintedKey['metadata']> = {}): MintedKey {
  return {
    credentials,
    expiresAt: '2030-01-02T03:04:05.000Z',
    metadata: { provider: 'aws-prod', type: 'aws-sts', identity: 'deploy', ...metadata },
  };
}

const hostile: MintResponse = { HOSTILE: key({ ...HOSTILE_VALUES }) };

function exitCodeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CliError ? err.exitCode : -1;
  }
  return undefined;
}

describe('env format', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'voidkey-env-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const shells = ['bash', 'sh', 'dash', 'zsh'].filter((shell) => ['/bin', '/usr/bin'].some((d) => existsSync(join(d, shell))));

  it.each(shells)('round-trips hostile values through eval in %s', (shell) => {
    const file = join(dir, `creds-${shell}.sh`);
    writeFileSync(file, formatEnv(hostile));
    const names = Object.keys(HOSTILE_VALUES);
    const script = `eval "$(cat "$1")"; printf '%s\\0' ${names.map((n) => `"$${n}"`).join(' ')}`;
    const out = execFileSync(shell, ['-c', script, shell, file], { encoding: 'utf8', cwd: dir });
    const values = out.split('\0').slice(0, -1);
    expect(Object.fromEntries(names.map((n, i) => [n, values[i]]))).toEqual(HOSTILE_VALUES);
    expect(existsSync('/tmp/voidkey-pwned')).toBe(false);
  });

  it('exports the variables to child processes', () => {
    const file = join(dir, 'export.sh');
    writeFileSync(file, formatEnv({ K: key({ AWS_ACCESS_KEY_ID: 'AKIA x' }) }));
    const out = execFileSync('sh', ['-c', `eval "$(cat "$1")"; sh -c 'printf %s "$AWS_ACCESS_KEY_ID"'`, 'sh', file], { encoding: 'utf8' });
    expect(out).toBe('AKIA x');
  });

  it.each([
    ['plain', 'abc', `'abc'`],
    ['quote', "a'b", `'a'\\''b'`],
    ['empty', '', `''`],
  ])('quotes %s values', (_name, value, quoted) => {
    expect(shellQuote(value)).toBe(quoted);
  });

  it('prints one export line per variable, in order', () => {
    expect(formatEnv({ A: key({ B_VAR: '1', A_VAR: '2' }), C: key({ C_VAR: '3' }) })).toBe(
      "export B_VAR='1'\nexport A_VAR='2'\nexport C_VAR='3'\n",
    );
  });

  it.each(['1ABC', 'A-B', 'A B', 'A;rm', '$(x)', '', 'É'])('refuses the variable name %j', (name) => {
    expect(exitCodeOf(() => formatEnv({ K: key({ [name]: 'v' }) }))).toBe(ExitCode.Internal);
  });

  it('refuses values with NUL', () => {
    expect(exitCodeOf(() => formatEnv({ K: key({ A: 'a\0b' }) }))).toBe(ExitCode.Internal);
  });
});

describe('flattenCredentials', () => {
  it('refuses two keys that set one variable to different values', () => {
    expect(exitCodeOf(() => flattenCredentials({ A: key({ AWS_REGION: 'x' }), B: key({ AWS_REGION: 'y' }) }))).toBe(ExitCode.Usage);
  });

  it('accepts two keys that agree on a variable', () => {
    expect([...flattenCredentials({ A: key({ AWS_REGION: 'x' }), B: key({ AWS_REGION: 'x', B: '1' }) })]).toEqual([
      ['AWS_REGION', 'x'],
      ['B', '1'],
    ]);
  });
});

describe('dotenv format', () => {
  it.each([
    ['abc', 'abc'],
    ['a"b', 'a\\"b'],
    ['a\\b', 'a\\\\b'],
    ['$HOME', '\\$HOME'],
    ['a\nb', 'a\\nb'],
    ['a\r\nb', 'a\\r\\nb'],
    ["it's `x`", "it's `x`"],
  ])('escapes %j', (value, escaped) => {
    expect(dotenvEscape(value)).toBe(escaped);
  });

  it('writes one line per variable whatever the value', () => {
    const out = formatDotenv(hostile);
    expect(out.split('\n')).toHaveLength(Object.keys(HOSTILE_VALUES).length + 1);
    expect(out).toContain('SINGLE_QUOTE="it\'s"\n');
    expect(out).toContain('NEWLINES="line1\\nline2\\n\\nline4\\n"\n');
  });
});

describe('json format', () => {
  it('prints the broker map verbatim', () => {
    const minted = { A: key({ X: 'y' }, { credentialId: 'AKIA', fields: { X: 'AccessKeyId' } }) };
    expect(JSON.parse(formatJson(minted))).toEqual(minted);
  });
});

describe('github format', () => {
  let n = 0;
  const delimiters = () => `ghadelimiter_${++n}`;

  it('masks every line of every value before anything else', () => {
    const { masks } = renderGithub({ K: key({ A: 'secret', B: 'one\ntwo\r\nthree', C: '' }) }, delimiters);
    expect(masks).toBe('::add-mask::secret\n::add-mask::one\n::add-mask::two\n::add-mask::three\n');
  });

  it('escapes command data so a value cannot change what is masked', () => {
    expect(escapeCommandData('50%0A\rx')).toBe('50%250A%0Dx');
  });

  it('uses heredoc entries that parse back to the exact values', () => {
    const { envFile, outputFile, names } = renderGithub(hostile, delimiters);
    expect(outputFile).toBe(envFile);
    expect(names).toEqual(Object.keys(HOSTILE_VALUES));
    expect(parseGithubFile(envFile)).toEqual(HOSTILE_VALUES);
  });

  it('draws a new delimiter when a value contains it', () => {
    const fixed = ['ghadelimiter_same', 'ghadelimiter_same', 'ghadelimiter_other'];
    const { envFile } = renderGithub({ K: key({ A: 'x ghadelimiter_same y' }) }, () => fixed.shift() as string);
    expect(envFile).toBe('A<<ghadelimiter_other\nx ghadelimiter_same y\nghadelimiter_other\n');
  });
});

/** What the Actions runner does with $GITHUB_ENV (actions/runner SetEnvFileCommand). */
function parseGithubFile(text: string): Record<string, string> {
  const lines = text.split('\n');
  const result: Record<string, string> = {};
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === '') continue;
    const [name, delimiter] = lines[i].split('<<');
    const value: string[] = [];
    for (i++; lines[i] !== delimiter; i++) value.push(lines[i]);
    result[name] = value.join('\n');
  }
  return result;
}

describe('credential-process format', () => {
  const aws = (credentials: Record<string, string>, metadata: Partial<MintedKey['metadata']> = {}) => ({ AWS: key(credentials, metadata) });

  it('maps provider fields through metadata.fields', () => {
    const out = formatCredentialProcess(
      aws(
        { ID: 'AKIA1', SECRET: 's3cr3t', TOKEN: 'tok', EXP: '2030-01-02T03:04:05Z' },
        { fields: { ID: 'AccessKeyId', SECRET: 'SecretAccessKey', TOKEN: 'SessionToken', EXP: 'Expiration' } },
      ),
    );
    expect(out.endsWith('\n')).toBe(true);
    expect(JSON.parse(out)).toEqual({
      Version: 1,
      AccessKeyId: 'AKIA1',
      SecretAccessKey: 's3cr3t',
      SessionToken: 'tok',
      Expiration: '2030-01-02T03:04:05.000Z',
    });
  });

  it('falls back to the AWS variable names and expiresAt without metadata.fields', () => {
    const out = JSON.parse(formatCredentialProcess(aws({ AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S', AWS_SESSION_TOKEN: 'T' })));
    expect(out).toEqual({ Version: 1, AccessKeyId: 'A', SecretAccessKey: 'S', SessionToken: 'T', Expiration: '2030-01-02T03:04:05.000Z' });
  });

  it('accepts minio-sts keys', () => {
    const out = JSON.parse(formatCredentialProcess(aws({ AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S' }, { type: 'minio-sts' })));
    expect(out.AccessKeyId).toBe('A');
    expect(out).not.toHaveProperty('SessionToken');
  });

  it.each([
    ['no key', {}],
    ['two keys', { A: key({ AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S' }), B: key({ AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S' }) }],
    ['a gcp key', { G: key({ TOKEN: 't' }, { type: 'gcp' }) }],
    ['a key without a secret', { A: key({ AWS_ACCESS_KEY_ID: 'A' }) }],
  ])('refuses %s with a usage error', (_name, minted) => {
    expect(exitCodeOf(() => formatCredentialProcess(minted as MintResponse))).toBe(ExitCode.Usage);
  });
});
