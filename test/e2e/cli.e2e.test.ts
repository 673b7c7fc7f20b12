/**
 * Every command and format of the real bundled CLI (`node dist/cli/voidkey.cjs`) against
 * the real broker process, local IdPs and STS sandboxes; and the offline commands on the
 * files that broker really loaded and wrote.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnvFile } from '../../cli/offline/env-file';
import { closedPort, HOSTILE_VALUES } from '../../cli/test-support/fake-broker';
import { REPO_ROOT, runCli } from '../../sandbox/broker-process';
import { MAIN_SUBJECT, ROLE_DEPLOY, startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(90_000);

const dir = mkdtempSync(join(tmpdir(), 'voidkey-cli-e2e-'));
const auditFile = join(dir, 'audit.jsonl');
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signingKeyFile = join(dir, 'audit-key.pem');
const publicKeyFile = join(dir, 'audit-key.pub.pem');
writeFileSync(signingKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));

/** The hostile values as static outputs, one variable each: `H_<NAME>`. */
const HOSTILE = Object.fromEntries(Object.entries(HOSTILE_VALUES).map(([name, value]) => [`H_${name}`, value]));

/** A YAML double-quoted scalar that the broker's `${VAR}` interpolation leaves alone. */
function yamlString(value: string): string {
  let out = '"';
  for (const char of value.replaceAll('${', () => '$${')) {
    const code = char.codePointAt(0)!;
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (code >= 0x20 && code < 0x7f) out += char;
    else if (code <= 0xffff) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += `\\U${code.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

function withAuditAndHostileKey(config: string): string {
  const hostile = Object.entries(HOSTILE)
    .map(([name, value]) => `          ${name}: { value: ${yamlString(value)} }\n`)
    .join('');
  return config
    .replace('clientIdps:', `server:\n  audit:\n    file: ${auditFile}\n    signingKeyFile: ${signingKeyFile}\nclientIdps:`)
    // A function, not a string: a replacement string would read the values' `$$` as `$`.
    .replace('      ARTIFACTS:\n', () => `      HOSTILE:\n        provider: aws-sandbox\n        roleArn: ${ROLE_DEPLOY}\n        outputs:\n${hostile}      ARTIFACTS:\n`);
}

/** STS writes expirations to the second. */
const wholeSeconds = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString();

describe('the voidkey CLI end to end', () => {
  let sandbox: Sandbox;
  let configFile: string;

  beforeAll(async () => {
    sandbox = await startSandbox({ transformConfig: withAuditAndHostileKey });
    configFile = sandbox.broker.configPath;
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(() => {
    sandbox.aws.reset();
    sandbox.minio.reset();
  });

  const token = (overrides: Record<string, unknown> = {}, options: { iat?: number; expiresIn?: number } = {}) =>
    sandbox.github.githubToken({ repository_id: '123456789', ...overrides }, options);

  async function voidkey(args: string[], env: Record<string, string> = {}) {
    return runCli(args, { env: { VOIDKEY_BROKER_URL: sandbox.broker.url, VOIDKEY_OIDC_TOKEN: await token(), ...env } });
  }

  describe('mint', () => {
    it('env: export lines whose eval gives back every hostile value, in bash and dash', async () => {
      const run = await voidkey(['mint', '--keys', 'HOSTILE', '--format', 'env']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const script = join(dir, 'hostile.sh');
      writeFileSync(script, run.stdout);
      const names = Object.keys(HOSTILE);
      for (const shell of ['bash', 'dash']) {
        const printed = execFileSync(shell, ['-c', `eval "$(cat '${script}')"; printf '%s\\0' ${names.map((name) => `"$${name}"`).join(' ')}`], { encoding: 'utf8', cwd: dir });
        expect(Object.fromEntries(printed.split('\0').slice(0, -1).map((value, i) => [names[i], value]))).toEqual(HOSTILE);
      }
    });

    it('env: a round trip through eval of real STS credentials', async () => {
      const run = await voidkey(['mint', '--keys', 'AWS_DEPLOY']);
      expect(run.code).toBe(0);
      const issued = sandbox.aws.issued[0]!;
      const echoed = execFileSync('sh', ['-c', 'creds="$(cat)" && eval "$creds" && printf "%s|%s|%s|%s" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" "$AWS_REGION"'], { input: run.stdout, encoding: 'utf8' });
      expect(echoed).toBe(`${issued.accessKeyId}|${issued.secretAccessKey}|${issued.sessionToken}|us-east-1`);
    });

    it('dotenv: one line per variable that a dotenv reader gives back exactly', async () => {
      const run = await voidkey(['mint', '--keys', 'HOSTILE', '--format', 'dotenv']);
      expect(run.code).toBe(0);
      expect(run.stdout.split('\n').slice(0, -1)).toHaveLength(Object.keys(HOSTILE).length);
      expect(parseEnvFile(run.stdout, 'stdout')).toEqual(HOSTILE);
    });

    it('json: the broker\'s map, with what STS issued', async () => {
      const run = await voidkey(['mint', '--keys', 'AWS_DEPLOY,ARTIFACTS', '--format', 'json']);
      expect(run.code).toBe(0);
      const minted = JSON.parse(run.stdout) as Record<string, { credentials: Record<string, string>; expiresAt: string; metadata: Record<string, unknown> }>;
      const aws = sandbox.aws.issued[0]!;
      const minio = sandbox.minio.issued[0]!;
      expect(minted.AWS_DEPLOY!.credentials).toMatchObject({ AWS_ACCESS_KEY_ID: aws.accessKeyId, AWS_SECRET_ACCESS_KEY: aws.secretAccessKey, AWS_SESSION_TOKEN: aws.sessionToken });
      expect(minted.AWS_DEPLOY!.expiresAt).toBe(wholeSeconds(aws.expiration));
      expect(minted.ARTIFACTS!.credentials).toMatchObject({ MINIO_ACCESS_KEY: minio.accessKeyId, MINIO_ENDPOINT: sandbox.minio.url });
      expect(minted.ARTIFACTS!.metadata).toMatchObject({ type: 'minio-sts', identity: 'app-main' });
    });

    it('github: masks on stdout first, then heredoc entries in $GITHUB_ENV and $GITHUB_OUTPUT', async () => {
      const envFile = join(dir, 'github_env');
      const outputFile = join(dir, 'github_output');
      writeFileSync(envFile, '');
      writeFileSync(outputFile, '');
      const run = await voidkey(['mint', '--keys', 'AWS_DEPLOY', '--format', 'github'], { GITHUB_ENV: envFile, GITHUB_OUTPUT: outputFile });
      expect(run.code).toBe(0);
      const issued = sandbox.aws.issued[0]!;
      expect(run.stdout.split('\n').slice(0, -1).every((line) => line.startsWith('::add-mask::'))).toBe(true);
      for (const secret of [issued.accessKeyId, issued.secretAccessKey, issued.sessionToken]) expect(run.stdout).toContain(`::add-mask::${secret}\n`);
      expect(run.stderr).toBe('voidkey: exported AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_CREDENTIAL_EXPIRATION, AWS_REGION to $GITHUB_ENV and $GITHUB_OUTPUT\n');
      for (const file of [envFile, outputFile]) {
        const text = readFileSync(file, 'utf8');
        expect(text).toMatch(new RegExp(`^AWS_SECRET_ACCESS_KEY<<(ghadelimiter_[0-9a-f-]{36})\\n${issued.secretAccessKey.replace(/[+/]/g, '\\$&')}\\n\\1$`, 'm'));
      }
    });

    it('credential-process: the AWS CLI\'s JSON for what STS issued', async () => {
      const run = await voidkey(['mint', '--keys', 'AWS_DEPLOY', '--format', 'credential-process']);
      expect(run.code).toBe(0);
      const issued = sandbox.aws.issued[0]!;
      expect(JSON.parse(run.stdout)).toEqual({
        Version: 1,
        AccessKeyId: issued.accessKeyId,
        SecretAccessKey: issued.secretAccessKey,
        SessionToken: issued.sessionToken,
        Expiration: wholeSeconds(issued.expiration),
      });
    });
  });

  describe('exec', () => {
    it('gives the command the credentials in its environment only', async () => {
      const run = await voidkey(['exec', '--keys', 'AWS_DEPLOY', '--', 'sh', '-c', 'printf %s "$AWS_ACCESS_KEY_ID"']);
      expect(run).toEqual({ code: 0, stdout: sandbox.aws.issued[0]!.accessKeyId, stderr: '' });
    });

    it('exits with the command\'s code', async () => {
      expect((await voidkey(['exec', '--keys', 'AWS_DEPLOY', '--', 'sh', '-c', 'exit 42'])).code).toBe(42);
    });

    it('leaves the OIDC token out of the command\'s environment unless --keep-token-env', async () => {
      const jwt = await token();
      const printEnv = 'process.stdout.write(JSON.stringify({ token: process.env.VOIDKEY_OIDC_TOKEN ?? null, key: process.env.AWS_ACCESS_KEY_ID ?? null }))';
      // Positive control: kept on request, the command could mint with it.
      const kept = await voidkey(['exec', '--keys', 'AWS_DEPLOY', '--keep-token-env', '--', process.execPath, '-e', printEnv], { VOIDKEY_OIDC_TOKEN: jwt });
      expect(kept.code).toBe(0);
      expect(JSON.parse(kept.stdout)).toEqual({ token: jwt, key: sandbox.aws.issued[0]!.accessKeyId });
      const run = await voidkey(['exec', '--keys', 'AWS_DEPLOY', '--', process.execPath, '-e', printEnv], { VOIDKEY_OIDC_TOKEN: jwt });
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({ token: null, key: sandbox.aws.issued[1]!.accessKeyId });
    });
  });

  describe('list-keys, list-idps, whoami', () => {
    it('lists the keys this token may mint', async () => {
      const run = await voidkey(['list-keys']);
      expect(run.code).toBe(0);
      const rows = run.stdout.trimEnd().split('\n');
      expect(rows[0]).toMatch(/^KEY +PROVIDER +TYPE +IDENTITY +DURATION \(default\/min\/max s\) +OUTPUTS$/);
      expect(rows.slice(1).map((row) => row.split(/ +/).slice(0, 4))).toEqual([
        ['AWS_DEPLOY', 'aws-sandbox', 'aws-sts', 'app-main'],
        ['HOSTILE', 'aws-sandbox', 'aws-sts', 'app-main'],
        ['ARTIFACTS', 'minio-sandbox', 'minio-sts', 'app-main'],
        ['AWS_READONLY', 'aws-sandbox', 'aws-sts', 'app-any-branch'],
      ]);
      const json = JSON.parse((await voidkey(['list-keys', '--json'])).stdout) as { idp: string; subject: string; keys: Array<{ name: string }> };
      expect(json).toMatchObject({ idp: 'github-actions', subject: MAIN_SUBJECT });
      expect(json.keys.map((key) => key.name)).toEqual(['AWS_DEPLOY', 'HOSTILE', 'ARTIFACTS', 'AWS_READONLY']);
    });

    it('lists the IdPs without a token', async () => {
      expect(await runCli(['list-idps'], { env: { VOIDKEY_BROKER_URL: sandbox.broker.url } })).toEqual({ code: 0, stdout: 'github-actions (default)\n', stderr: '' });
      const json = await runCli(['list-idps', '--json'], { env: { VOIDKEY_BROKER_URL: sandbox.broker.url } });
      expect(JSON.parse(json.stdout)).toEqual([{ name: 'github-actions', isDefault: true }]);
    });

    it('shows what the broker sees', async () => {
      const run = await voidkey(['whoami']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^token: +VOIDKEY_OIDC_TOKEN\n/);
      expect(run.stdout).toContain(`idp:        github-actions\nsubject:    ${MAIN_SUBJECT}\nidentities: app-main, app-any-branch\nkeys:       AWS_DEPLOY, HOSTILE, ARTIFACTS, AWS_READONLY\n`);
      const json = JSON.parse((await voidkey(['whoami', '--json'])).stdout) as Record<string, unknown>;
      expect(json).toEqual({ tokenSource: 'VOIDKEY_OIDC_TOKEN', idp: 'github-actions', subject: MAIN_SUBJECT, identities: ['app-main', 'app-any-branch'], keys: ['AWS_DEPLOY', 'HOSTILE', 'ARTIFACTS', 'AWS_READONLY'] });
    });
  });

  describe('config validate', () => {
    it('passes the config the broker is running, and the sample config', async () => {
      const running = await runCli(['config', 'validate', configFile], { env: { BROKER_CLIENT_SECRET: sandbox.clientSecret } });
      expect(running.stderr).toBe('');
      expect(running.stdout).toMatch(/: ok( \(.*\))?\n$/);
      expect(running.code).toBe(0);
      const sample = await runCli(['config', 'validate', 'sample-config.yaml'], { cwd: REPO_ROOT });
      expect(sample).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sample-config\.yaml: ok/m) });
    });

    it('fails a broken file with file:line:col: path: message, exit 7, in text and json', async () => {
      const broken = join(dir, 'broken.yaml');
      writeFileSync(broken, sandbox.config.replace('    roleArn: arn:aws:iam::111122223333:role/deploy', '    roleArn: arn:aws:iam::111122223333:role/deploy\n        rolArn: typo'));
      const lineOfTypo = readFileSync(broken, 'utf8').split('\n').findIndex((line) => line.includes('rolArn: typo')) + 1;
      const run = await runCli(['config', 'validate', broken]);
      expect(run.code).toBe(7);
      expect(run.stdout).toContain(`${broken}:${lineOfTypo}:9: clientIdentities[0].keys.AWS_DEPLOY.rolArn: unknown field\n`);
      expect(run.stdout).toMatch(/: invalid \(1 error/);
      const json = JSON.parse((await runCli(['config', 'validate', '--format', 'json', broken])).stdout) as { ok: boolean; files: Array<{ errors: Array<{ line: number }> }> };
      expect(json.ok).toBe(false);
      expect(json.files[0]!.errors).toEqual([expect.objectContaining({ line: lineOfTypo, column: 9, path: 'clientIdentities[0].keys.AWS_DEPLOY.rolArn' })]);
    });
  });

  describe('config explain', () => {
    it('explains a real token against the running config: exit 0 when an identity matches', async () => {
      const tokenFile = join(dir, 'token.jwt');
      writeFileSync(tokenFile, await token());
      const run = await runCli(['config', 'explain', configFile, '--token-file', tokenFile]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^note: the token's signature is NOT checked/);
      expect(run.stdout).toContain('matching identities:\n  app-main        clientIdentities[0]  subject "repo:acme/app:ref:refs/heads/main"\n  app-any-branch  clientIdentities[1]');
      expect(run.stdout).toMatch(/^ {2}AWS_DEPLOY +from app-main +provider aws-sandbox$/m);
      expect(run.stdout).toMatch(/^ {2}AWS_READONLY +from app-any-branch +provider aws-sandbox$/m);
    });

    it('says why nothing matches: exit 4, agreeing with the broker\'s 403', async () => {
      const stranger = await token({ repository: 'evil/app' });
      const run = await runCli(['config', 'explain', configFile, '--token', stranger, '--format', 'json']);
      expect(run.code).toBe(4);
      const explanation = JSON.parse(run.stdout) as { matched: unknown[]; unmatched: Array<{ name: string; reasons: string[] }> };
      expect(explanation.matched).toEqual([]);
      expect(explanation.unmatched.map((identity) => identity.name)).toEqual(['app-main', 'app-any-branch']);
      const minted = await voidkey(['mint', '--keys', 'AWS_READONLY'], { VOIDKEY_OIDC_TOKEN: stranger });
      expect(minted.code).toBe(4);
      expect(minted.stderr).toContain('no_identity_matched');
    });

    it('shows a typed claim mismatch the broker also refuses', async () => {
      const numeric = await token({ repository_id: 123456789 });
      const run = await runCli(['config', 'explain', configFile, '--token', numeric]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('  app-main  clientIdentities[0]  subject "repo:acme/app:ref:refs/heads/main"\n    - claim repository_id: expected "123456789" (string), got 123456789 (number)\n');
      expect((await voidkey(['mint', '--keys', 'AWS_DEPLOY'], { VOIDKEY_OIDC_TOKEN: numeric })).code).toBe(4);
    });
  });

  describe('audit verify', () => {
    it('verifies the chain and signatures the broker wrote, and finds a changed record', async () => {
      await voidkey(['mint', '--keys', 'AWS_DEPLOY']);
      const records = readFileSync(auditFile, 'utf8').trimEnd().split('\n');
      expect(records.length).toBeGreaterThan(3);
      const lastHash = (JSON.parse(records.at(-1)!) as { hash: string }).hash;
      const run = await runCli(['audit', 'verify', auditFile, '--public-key', publicKeyFile]);
      expect(run).toEqual({
        code: 0,
        stderr: '',
        stdout: `ok: ${records.length} records (${records.length} signed), last hash ${lastHash}\nsignatures: every record verified with ${publicKeyFile}\n`,
      });

      const tampered = join(dir, 'tampered.jsonl');
      copyFileSync(auditFile, tampered);
      const lines = readFileSync(tampered, 'utf8').split('\n');
      const original = lines[2]!;
      lines[2] = original.replace(/"requestId":"[^"]+"/, '"requestId":"forged"');
      expect(lines[2]).not.toBe(original);
      writeFileSync(tampered, lines.join('\n'));
      const broken = await runCli(['audit', 'verify', tampered, '--public-key', publicKeyFile]);
      expect(broken).toEqual({ code: 7, stderr: '', stdout: `${tampered}:3: record 2: its content does not match its hash (changed)\n` });
    });
  });

  describe('exit codes', () => {
    it.each([
      [0, 'ok', async () => voidkey(['mint', '--keys', 'AWS_DEPLOY'])],
      [2, 'usage: a duration above the key\'s maxDuration (400 duration_invalid)', async () => voidkey(['mint', '--keys', 'AWS_DEPLOY', '--duration', '7200'])],
      [3, 'token: an expired token (401 token_expired)', async () => voidkey(['mint', '--keys', 'AWS_DEPLOY'], { VOIDKEY_OIDC_TOKEN: await token({}, { iat: Math.floor(Date.now() / 1000) - 600, expiresIn: 300 }) })],
      [4, 'denied: a key no identity grants (403 key_not_permitted)', async () => voidkey(['mint', '--keys', 'PROD_ADMIN'])],
      [5, 'provider failed: STS refuses (502 mint_failed)', async () => {
        sandbox.aws.failNext(1, { code: 'AccessDenied' });
        return voidkey(['mint', '--keys', 'AWS_DEPLOY']);
      }],
      [6, 'unavailable: nothing listens at the broker URL', async () => voidkey(['list-keys'], { VOIDKEY_BROKER_URL: `http://127.0.0.1:${await closedPort()}` })],
    ])('%i (%s)', async (code, _what, run) => {
      const result = await run();
      expect(result.code).toBe(code);
      if (code === 0) return;
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^voidkey: (usage|token|denied|provider failed|unavailable)\b/);
      if (code >= 2 && code <= 5) expect(result.stderr).toMatch(/\[request id: [^\]]+\]/);
    });
  });
});
