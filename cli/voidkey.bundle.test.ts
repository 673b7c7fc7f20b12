/**
 * The built bundle (dist/cli/voidkey.cjs) as pipelines run it, against a local fake of
 * the broker's HTTP API. End-to-end tests against the real server live in test/e2e.
 */
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GENESIS_HASH, recordHash } from '../broker-core/audit-chain';
import { startFakeServer, fakeJwt, HOSTILE_VALUES, type FakeAnswer, type FakeServer, type RecordedRequest } from './test-support/fake-broker';

const ROOT = join(__dirname, '..');
const BUNDLE = join(ROOT, 'dist/cli/voidkey.cjs');
const TOKEN = fakeJwt({ iss: 'https://token.actions.githubusercontent.com', aud: 'https://broker.example.com', sub: 'repo:acme/app:ref:refs/heads/main', exp: Math.floor(Date.now() / 1000) + 300 });
const GITHUB_ID_TOKEN = fakeJwt({ iss: 'https://token.actions.githubusercontent.com', sub: 'from-github' });

/** Rebuilds when the bundle is missing or older than any CLI source. */
function ensureBundle(): void {
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((entry) =>
        entry.isDirectory() ? newest(join(dir, entry.name)) : entry.name.endsWith('.test.ts') ? 0 : statSync(join(dir, entry.name)).mtimeMs,
      ),
    );
  let built: number;
  try {
    built = statSync(BUNDLE).mtimeMs;
  } catch {
    built = 0;
  }
  // The offline tools bundle broker-core's config code and the providers' descriptors.
  const sources = ['cli', 'broker-core', 'providers', 'config'].map((dir) => newest(join(ROOT, dir)));
  if (built < Math.max(...sources, statSync(join(ROOT, 'scripts/bundle-cli.mjs')).mtimeMs)) {
    execFileSync(process.execPath, [join(ROOT, 'scripts/bundle-cli.mjs')], { cwd: ROOT, stdio: 'inherit' });
  }
}

const AWS_FIELDS = { AWS_ACCESS_KEY_ID: 'AccessKeyId', AWS_SECRET_ACCESS_KEY: 'SecretAccessKey', AWS_SESSION_TOKEN: 'SessionToken' };
const CATALOGUE: Record<string, { credentials: Record<string, string>; type: string; fields?: Record<string, string> }> = {
  AWS_DEPLOY: { credentials: { AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE', AWS_SECRET_ACCESS_KEY: "s/e+c'r\"e$t", AWS_SESSION_TOKEN: 'FwoG\nZXIvYXdz' }, type: 'aws-sts', fields: AWS_FIELDS },
  HOSTILE: { credentials: { ...HOSTILE_VALUES }, type: 'aws-sts' },
  GCP_READ: { credentials: { GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.token' }, type: 'gcp' },
};
const EXPIRES_AT = '2030-01-02T03:04:05.000Z';

function mintAnswer(keys: string[]): FakeAnswer {
  if (keys.includes('DENIED')) return refusal(403, 'key_not_permitted', 'ERR_KEY_NOT_PERMITTED', 'key DENIED is not permitted for this identity');
  if (keys.includes('BROKEN')) {
    return refusal(502, 'mint_failed', 'ERR_MINT_FAILED', '1 of the requested keys could not be minted; no credentials were issued', {
      keys: { BROKEN: { error: 'provider_rejected', message: 'the provider refused the request' } },
    });
  }
  if (keys.includes('BUSY')) return { ...refusal(503, 'provider_unavailable', 'ERR_PROVIDER_UNAVAILABLE', 'try later'), headers: { 'retry-after': '0' } };
  const body: Record<string, unknown> = {};
  for (const key of keys) {
    const entry = CATALOGUE[key];
    if (entry === undefined) return refusal(403, 'key_not_permitted', 'ERR_KEY_NOT_PERMITTED', `key ${key} is not permitted`);
    body[key] = {
      credentials: entry.credentials,
      expiresAt: EXPIRES_AT,
      metadata: { provider: `${entry.type}-prod`, type: entry.type, identity: 'deploy-main', ...(entry.fields ? { fields: entry.fields } : {}) },
    };
  }
  return { status: 200, body, headers: { 'cache-control': 'no-store' } };
}

function refusal(status: number, error: string, code: string, message: string, extra: object = {}): FakeAnswer {
  return { status, body: { error, code, message, requestId: 'rid-42', ...extra } };
}

function broker(request: RecordedRequest): FakeAnswer {
  const path = request.url.split('?')[0].replace(/^\/voidkey\//, '/');
  if (request.method === 'GET' && path === '/gh-id-token') {
    return request.headers.authorization === 'Bearer gh-request-token' ? { status: 200, body: { value: GITHUB_ID_TOKEN } } : { status: 401, body: {} };
  }
  if (request.method === 'GET' && path === '/credentials/idp-providers') {
    return { status: 200, body: [{ name: 'github-actions', isDefault: true }, { name: 'gitlab', isDefault: false }] };
  }
  const token = request.headers.authorization?.replace(/^Bearer /, '');
  if (token === undefined) return refusal(401, 'token_missing', 'ERR_TOKEN_MISSING', 'no token');
  if (token !== TOKEN && token !== GITHUB_ID_TOKEN) return refusal(401, 'token_expired', 'ERR_TOKEN_EXPIRED', 'the token has expired');
  if (request.method === 'GET' && path === '/credentials/keys') {
    return {
      status: 200,
      body: {
        idp: 'github-actions',
        subject: 'repo:acme/app:ref:refs/heads/main',
        identities: ['deploy-main'],
        keys: [
          { name: 'AWS_DEPLOY', provider: 'aws-prod', type: 'aws-sts', identity: 'deploy-main', outputs: Object.keys(AWS_FIELDS), duration: { default: 900, min: 900, max: 3600 } },
          { name: 'GCP_READ', provider: 'gcp-prod', type: 'gcp', identity: 'deploy-main', outputs: ['GOOGLE_OAUTH_ACCESS_TOKEN'], duration: { default: 3600, min: 60, max: 3600 } },
        ],
      },
    };
  }
  if (request.method === 'POST' && path === '/credentials/mint') {
    const body = JSON.parse(request.body) as { keys?: string[]; all?: boolean };
    return mintAnswer(body.all === true ? ['AWS_DEPLOY', 'GCP_READ'] : (body.keys ?? []));
  }
  return { status: 404, body: { error: 'not_found', message: 'no such route' } };
}

let server: FakeServer;
let dir: string;
beforeAll(async () => {
  ensureBundle();
  server = await startFakeServer(broker);
  dir = mkdtempSync(join(tmpdir(), 'voidkey-bundle-'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  server.requests.length = 0;
});

/** A clean environment: nothing of the test runner's CI leaks into the CLI. */
function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, VOIDKEY_BROKER_URL: server.url, VOIDKEY_K8S_TOKEN_FILE: '', ...extra };
}

function voidkey(args: string[], env: Record<string, string> = baseEnv({ VOIDKEY_OIDC_TOKEN: TOKEN })) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BUNDLE, ...args], { env, cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the bundle', () => {
  it('is one executable CommonJS file with a node shebang', () => {
    const text = readFileSync(BUNDLE, 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(BUNDLE).mode & 0o111).toBe(0o111);
    expect(text.length).toBeLessThan(300_000);
  });

  it('carries the offline tools (ajv, yaml, the schemas) as its gzipped last line, a comment V8 does not parse at start', () => {
    const text = readFileSync(BUNDLE, 'latin1');
    const lastLine = text.slice(text.lastIndexOf('\n', text.length - 2) + 1);
    expect(lastLine).toMatch(/^\/\/voidkey-offline gzip base64:[A-Za-z0-9+/=]+\n$/);
    // The code V8 parses on every start: the CLI and commander, not the offline tools.
    expect(text.length - lastLine.length).toBeLessThan(150_000);
  });

  // The offline tools import node:crypto at their top: its absence shows they were not evaluated.
  it('answers --help without loading fetch, child_process, crypto or the offline tools', () => {
    const probe = `process.argv = [process.argv[0], 'voidkey', '--help'];
      process.stdout.write = () => true;
      require(${JSON.stringify(BUNDLE)});
      process.on('exit', () => process.stderr.write(JSON.stringify(process.moduleLoadList)));`;
    const { stderr, status } = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
    expect(status).toBe(0);
    const loaded = JSON.parse(stderr) as string[];
    expect(loaded).not.toContain('NativeModule child_process');
    expect(loaded).not.toContain('NativeModule crypto');
    expect(loaded).not.toContain('NativeModule zlib');
    expect(loaded.filter((m) => m.includes('undici'))).toEqual([]);
  });

  it.each([[[]], [['mint']], [['exec']], [['list-keys']], [['list-idps']], [['whoami']], [['config']], [['config', 'validate']], [['config', 'explain']], [['audit']], [['audit', 'verify']], [['version']]])('prints help for %j', async (args) => {
    const run = await voidkey([...args, '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: voidkey/);
    expect(run.stderr).toBe('');
  });

  it('prints its version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const run = await voidkey(['version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^voidkey ${version.replaceAll('.', '\\.')} \\(node v\\d+`));
    expect((await voidkey(['--version'])).stdout).toBe(`${version}\n`);
  });
});

describe('mint', () => {
  it('sends the token in Authorization and the request as JSON', async () => {
    const run = await voidkey(['mint', '--all', '--duration', '900', '--idp', 'github-actions', '--format', 'json']);
    expect(run.code).toBe(0);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/credentials/mint');
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request.body)).toEqual({ all: true, duration: 900, idpName: 'github-actions' });
    expect(Object.keys(JSON.parse(run.stdout))).toEqual(['AWS_DEPLOY', 'GCP_READ']);
  });

  it('resolves routes under a path prefix', async () => {
    const run = await voidkey(['list-idps', '--broker-url', `${server.url}/voidkey`]);
    expect(run.code).toBe(0);
    expect(server.requests[0].url).toBe('/voidkey/credentials/idp-providers');
  });

  it('prints env lines that survive eval in bash, hostile values included', async () => {
    const run = await voidkey(['mint', '--keys', 'HOSTILE']);
    expect(run.code).toBe(0);
    const names = Object.keys(HOSTILE_VALUES);
    const file = join(dir, 'hostile.env');
    writeFileSync(file, run.stdout);
    const out = execFileSync('bash', ['-c', `eval "$(cat "$1")"; printf '%s\\0' ${names.map((n) => `"$${n}"`).join(' ')}`, 'bash', file], { encoding: 'utf8' });
    expect(Object.fromEntries(out.split('\0').slice(0, -1).map((value, i) => [names[i], value]))).toEqual(HOSTILE_VALUES);
  });

  it('works as eval "$(voidkey mint …)" in a real shell', async () => {
    // Asynchronous: the fake broker answers from this process.
    const { stdout } = await promisify(execFile)(
      'bash',
      ['-c', `set -e; creds="$("$0" "$1" mint --keys AWS_DEPLOY)"; eval "$creds"; printf '%s|%s|%s' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN"`, process.execPath, BUNDLE],
      { encoding: 'utf8', env: baseEnv({ VOIDKEY_OIDC_TOKEN: TOKEN }) },
    );
    expect(stdout).toBe(`ASIAEXAMPLE|s/e+c'r"e$t|FwoG\nZXIvYXdz`);
  });

  it('prints dotenv lines', async () => {
    const run = await voidkey(['mint', '--keys', 'AWS_DEPLOY', '--format', 'dotenv']);
    expect(run.stdout).toBe('AWS_ACCESS_KEY_ID="ASIAEXAMPLE"\nAWS_SECRET_ACCESS_KEY="s/e+c\'r\\"e\\$t"\nAWS_SESSION_TOKEN="FwoG\\nZXIvYXdz"\n');
  });

  it('prints credential_process JSON for one AWS key', async () => {
    const run = await voidkey(['mint', '--keys', 'AWS_DEPLOY', '--format', 'credential-process']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      Version: 1,
      AccessKeyId: 'ASIAEXAMPLE',
      SecretAccessKey: "s/e+c'r\"e$t",
      SessionToken: 'FwoG\nZXIvYXdz',
      Expiration: EXPIRES_AT,
    });
  });

  it('refuses credential-process for a key that is not AWS', async () => {
    const run = await voidkey(['mint', '--keys', 'GCP_READ', '--format', 'credential-process']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('needs an aws-sts or minio-sts key; GCP_READ is "gcp"');
  });

  it('masks, then writes $GITHUB_ENV and $GITHUB_OUTPUT', async () => {
    const envFile = join(dir, 'github_env');
    const outputFile = join(dir, 'github_output');
    writeFileSync(envFile, 'EXISTING=1\n');
    writeFileSync(outputFile, '');
    const run = await voidkey(['mint', '--keys', 'AWS_DEPLOY', '--format', 'github'], baseEnv({ VOIDKEY_OIDC_TOKEN: TOKEN, GITHUB_ENV: envFile, GITHUB_OUTPUT: outputFile }));
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("::add-mask::ASIAEXAMPLE\n::add-mask::s/e+c'r\"e$t\n::add-mask::FwoG\n::add-mask::ZXIvYXdz\n");
    expect(run.stderr).toBe('voidkey: exported AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN to $GITHUB_ENV and $GITHUB_OUTPUT\n');
    const env = readFileSync(envFile, 'utf8');
    expect(env).toMatch(
      /^EXISTING=1\nAWS_ACCESS_KEY_ID<<(ghadelimiter_[0-9a-f-]{36})\nASIAEXAMPLE\n\1\nAWS_SECRET_ACCESS_KEY<<(ghadelimiter_[0-9a-f-]{36})\ns\/e\+c'r"e\$t\n\2\nAWS_SESSION_TOKEN<<(ghadelimiter_[0-9a-f-]{36})\nFwoG\nZXIvYXdz\n\3\n$/,
    );
    expect(readFileSync(outputFile, 'utf8')).toContain('AWS_SESSION_TOKEN<<ghadelimiter_');
  });

  it('takes the token from GitHub Actions and never sends GITHUB_TOKEN', async () => {
    const env = baseEnv({
      ACTIONS_ID_TOKEN_REQUEST_URL: `${server.url}/gh-id-token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'gh-request-token',
      GITHUB_TOKEN: 'ghs_never_sent',
      VOIDKEY_AUDIENCE: 'https://broker.example.com',
    });
    const run = await voidkey(['mint', '--keys', 'GCP_READ'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("export GOOGLE_OAUTH_ACCESS_TOKEN='ya29.token'\n");
    expect(server.requests.map((r) => r.url)).toEqual(['/gh-id-token?api-version=2.0&audience=https%3A%2F%2Fbroker.example.com', '/credentials/mint']);
    expect(server.requests[1].headers.authorization).toBe(`Bearer ${GITHUB_ID_TOKEN}`);
    expect(JSON.stringify(server.requests)).not.toContain('ghs_never_sent');
  });

  it('reads the token from --token-file', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, `${TOKEN}\n`);
    const run = await voidkey(['mint', '--keys', 'GCP_READ', '--token-file', file], baseEnv());
    expect(run.code).toBe(0);
    expect(server.requests[0].headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it.each<[string, string[], Record<string, string>, number, string]>([
    ['usage', ['mint'], { VOIDKEY_OIDC_TOKEN: TOKEN }, 2, 'voidkey: usage: name the keys to mint with --keys A,B, or pass --all\n'],
    ['no token', ['mint', '--keys', 'AWS_DEPLOY'], {}, 3, 'voidkey: token: no OIDC token found'],
    ['a rejected token', ['mint', '--keys', 'AWS_DEPLOY'], { VOIDKEY_OIDC_TOKEN: 'a.b.c' }, 3, 'voidkey: token (token_expired): the token has expired [request id: rid-42]\n'],
    ['a denied key', ['mint', '--keys', 'DENIED'], { VOIDKEY_OIDC_TOKEN: TOKEN }, 4, 'voidkey: denied (key_not_permitted): key DENIED is not permitted for this identity [request id: rid-42]\n'],
    [
      'a failed mint',
      ['mint', '--keys', 'BROKEN'],
      { VOIDKEY_OIDC_TOKEN: TOKEN },
      5,
      'voidkey: provider failed (mint_failed): 1 of the requested keys could not be minted; no credentials were issued [request id: rid-42]\n  BROKEN: provider_rejected: the provider refused the request\n',
    ],
    ['an unavailable provider', ['mint', '--keys', 'BUSY'], { VOIDKEY_OIDC_TOKEN: TOKEN }, 6, 'voidkey: unavailable (provider_unavailable): try later [request id: rid-42]\n'],
  ])('exits for %s', async (_name, args, env, code, stderr) => {
    const run = await voidkey(args, baseEnv(env));
    expect(run.code).toBe(code);
    expect(run.stdout).toBe('');
    expect(run.stderr.startsWith(stderr)).toBe(true);
  });

  it('retries a 503 three times in all', async () => {
    await voidkey(['mint', '--keys', 'BUSY']);
    expect(server.requests).toHaveLength(3);
  });
});

describe('list-keys, list-idps, whoami', () => {
  it('lists keys as a table', async () => {
    const run = await voidkey(['list-keys']);
    expect(run.code).toBe(0);
    expect(server.requests[0].headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(server.requests[0].url).toBe('/credentials/keys');
    expect(run.stdout).toBe(
      [
        'KEY         PROVIDER  TYPE     IDENTITY     DURATION (default/min/max s)  OUTPUTS',
        'AWS_DEPLOY  aws-prod  aws-sts  deploy-main  900/900/3600                  AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_SESSION_TOKEN',
        'GCP_READ    gcp-prod  gcp      deploy-main  3600/60/3600                  GOOGLE_OAUTH_ACCESS_TOKEN',
        '',
      ].join('\n'),
    );
  });

  it('lists keys as JSON', async () => {
    const run = await voidkey(['list-keys', '--json']);
    expect(JSON.parse(run.stdout).keys.map((k: { name: string }) => k.name)).toEqual(['AWS_DEPLOY', 'GCP_READ']);
  });

  it('lists IdPs without a token', async () => {
    const run = await voidkey(['list-idps'], baseEnv());
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('github-actions (default)\ngitlab\n');
    expect(server.requests[0].headers.authorization).toBeUndefined();
  });

  it('shows what the broker sees', async () => {
    const run = await voidkey(['whoami']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^token: {6}VOIDKEY_OIDC_TOKEN\nclaims: {5}iss=https:\/\/token\.actions\.githubusercontent\.com aud=https:\/\/broker\.example\.com sub=repo:acme\/app:ref:refs\/heads\/main expires in \d+s \(unverified\)\nidp: {8}github-actions\nsubject: {4}repo:acme\/app:ref:refs\/heads\/main\nidentities: deploy-main\nkeys: {7}AWS_DEPLOY, GCP_READ\n$/,
    );
    expect(run.stdout).not.toContain(TOKEN);
  });

  it('shows the token\'s claims when the broker refuses it', async () => {
    const expired = fakeJwt({ iss: 'https://issuer.example', aud: 'wrong', exp: 1 });
    const run = await voidkey(['whoami'], baseEnv({ VOIDKEY_OIDC_TOKEN: expired }));
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/claims: {5}iss=https:\/\/issuer\.example aud=wrong expired \d+s ago \(unverified\)\nvoidkey: token \(token_expired\)/);
    expect(run.stderr).not.toContain(expired);
  });
});

describe('exec', () => {
  const node = process.execPath;

  it('adds the credentials to the command\'s environment only', async () => {
    const run = await voidkey(['exec', '--keys', 'AWS_DEPLOY', '--', node, '-e', 'process.stdout.write(process.env.AWS_SECRET_ACCESS_KEY + "|" + process.env.HOME + "|" + process.argv.slice(1))', '--', '--flag-for-the-child']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`s/e+c'r"e$t|${dir}|--flag-for-the-child`);
    expect(readdirSync(dir).filter((f) => f.includes('AWS'))).toEqual([]);
  });

  it('exits with the command\'s code', async () => {
    const run = await voidkey(['exec', '--keys', 'GCP_READ', node, '-e', 'process.exit(7)']);
    expect(run.code).toBe(7);
  });

  it('exits 127 when the command does not exist', async () => {
    const run = await voidkey(['exec', '--keys', 'GCP_READ', '--', 'voidkey-no-such-command']);
    expect(run.code).toBe(127);
    expect(run.stderr).toBe('voidkey: cannot run voidkey-no-such-command: command not found\n');
  });

  it('mints nothing and runs nothing when the broker refuses', async () => {
    const run = await voidkey(['exec', '--keys', 'DENIED', '--', node, '-e', 'console.log("ran")']);
    expect(run.code).toBe(4);
    expect(run.stdout).toBe('');
  });

  async function signalled(script: string, signal: NodeJS.Signals): Promise<number | null> {
    const child = spawn(process.execPath, [BUNDLE, 'exec', '--keys', 'GCP_READ', '--', node, '-e', script], { env: baseEnv({ VOIDKEY_OIDC_TOKEN: TOKEN }) });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill(signal);
    return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  it('passes SIGTERM on and exits with the command\'s code', async () => {
    const code = await signalled('process.on("SIGTERM", () => process.exit(42)); console.log("ready"); setInterval(() => {}, 1000)', 'SIGTERM');
    expect(code).toBe(42);
  });

  it('exits 128 + n when a signal ends the command', async () => {
    const code = await signalled('console.log("ready"); setInterval(() => {}, 1000)', 'SIGINT');
    expect(code).toBe(130);
  });
});

describe('exec keeps the OIDC token from the command', () => {
  const node = process.execPath;
  const TOKEN_VARIABLES = ['VOIDKEY_OIDC_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_URL', 'VOIDKEY_ID_TOKEN', 'DEPLOY_TOKEN'];
  const printEnv = `process.stdout.write(JSON.stringify(Object.fromEntries(${JSON.stringify([...TOKEN_VARIABLES, 'GOOGLE_OAUTH_ACCESS_TOKEN', 'VOIDKEY_BROKER_URL'])}.map((n) => [n, process.env[n] ?? null]))))`;
  const printed = (stdout: string) => JSON.parse(stdout) as Record<string, string | null>;

  it('removes VOIDKEY_OIDC_TOKEN and the CI token variables; --keep-token-env keeps them', async () => {
    const env = baseEnv({ VOIDKEY_OIDC_TOKEN: TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'gh-request-token', ACTIONS_ID_TOKEN_REQUEST_URL: `${server.url}/gh-id-token`, VOIDKEY_ID_TOKEN: TOKEN });
    // Positive control: asked to keep them, the command sees every one.
    const kept = await voidkey(['exec', '--keys', 'GCP_READ', '--keep-token-env', '--', node, '-e', printEnv], env);
    expect(kept.code).toBe(0);
    expect(printed(kept.stdout)).toMatchObject({ VOIDKEY_OIDC_TOKEN: TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'gh-request-token', VOIDKEY_ID_TOKEN: TOKEN, GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.token' });

    const run = await voidkey(['exec', '--keys', 'GCP_READ', '--debug', '--', node, '-e', printEnv], env);
    expect(run.code).toBe(0);
    expect(printed(run.stdout)).toEqual({
      VOIDKEY_OIDC_TOKEN: null,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: null,
      ACTIONS_ID_TOKEN_REQUEST_URL: null,
      VOIDKEY_ID_TOKEN: null,
      DEPLOY_TOKEN: null,
      GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.token',
      VOIDKEY_BROKER_URL: server.url,
    });
    expect(run.stderr).toContain('voidkey: debug: removed VOIDKEY_OIDC_TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_ID_TOKEN_REQUEST_URL, VOIDKEY_ID_TOKEN from its environment');
    expect(run.stderr).not.toContain(TOKEN);
  });

  it('removes the token it got from GitHub Actions and the --token-env variable', async () => {
    const github = baseEnv({ ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'gh-request-token', ACTIONS_ID_TOKEN_REQUEST_URL: `${server.url}/gh-id-token` });
    const kept = await voidkey(['exec', '--keys', 'GCP_READ', '--keep-token-env', '--', node, '-e', printEnv], github);
    expect(printed(kept.stdout)).toMatchObject({ ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'gh-request-token', GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.token' });
    const run = await voidkey(['exec', '--keys', 'GCP_READ', '--', node, '-e', printEnv], github);
    expect(run.code).toBe(0);
    expect(printed(run.stdout)).toMatchObject({ ACTIONS_ID_TOKEN_REQUEST_TOKEN: null, ACTIONS_ID_TOKEN_REQUEST_URL: null, GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.token' });

    const gitlab = baseEnv({ DEPLOY_TOKEN: TOKEN });
    const keptGitlab = await voidkey(['exec', '--keys', 'GCP_READ', '--token-env', 'DEPLOY_TOKEN', '--keep-token-env', '--', node, '-e', printEnv], gitlab);
    expect(printed(keptGitlab.stdout)).toMatchObject({ DEPLOY_TOKEN: TOKEN });
    const runGitlab = await voidkey(['exec', '--keys', 'GCP_READ', '--token-env', 'DEPLOY_TOKEN', '--', node, '-e', printEnv], gitlab);
    expect(runGitlab.code).toBe(0);
    expect(printed(runGitlab.stdout)).toMatchObject({ DEPLOY_TOKEN: null, GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.token' });
  });
});

describe('no value the CLI prints can start a line', () => {
  // A workflow command, a carriage return that overwrites the line, an ANSI escape, a Unicode line separator.
  const INJECTED = '\n::set-output name=pwned::1\r\u001b[2K\u2028::add-mask::x';
  const SHOWN = '\\n::set-output name=pwned::1\\r\\u001b[2K\\u2028::add-mask::x';
  const BENIGN = ' (benign)';

  /** No line of the output is a workflow command, and nothing in it moves the cursor or breaks a line another way. */
  function expectNoInjectedLine(text: string): void {
    expect(text.split('\n').filter((line) => line.startsWith('::'))).toEqual([]);
    for (const char of ['\r', '\u001b', '\u2028']) expect(text).not.toContain(char);
  }

  async function withBroker<T>(handler: FakeServer['handler'], body: () => Promise<T>): Promise<T> {
    const previous = server.handler;
    server.handler = handler;
    try {
      return await body();
    } finally {
      server.handler = previous;
    }
  }

  it.each([
    ['benign', BENIGN, BENIGN],
    ['hostile', INJECTED, SHOWN],
  ])('in the broker\'s error answer (%s)', async (_name, value, shown) => {
    const answer = () => ({
      status: 502,
      body: { error: `mint_failed${value}`, code: 'ERR_MINT_FAILED', message: `no credentials were issued${value}`, requestId: `rid${value}`, keys: { [`AWS${value}`]: { error: `provider_rejected${value}`, message: `refused${value}` } } },
    });
    const run = await withBroker(answer, () => voidkey(['mint', '--keys', 'AWS_DEPLOY']));
    expect(run.code).toBe(5);
    expect(run.stderr).toBe(`voidkey: provider failed (mint_failed${shown}): no credentials were issued${shown} [request id: rid${shown}]\n  AWS${shown}: provider_rejected${shown}: refused${shown}\n`);
    expectNoInjectedLine(run.stderr);
  });

  it.each([
    ['benign', BENIGN, BENIGN],
    ['hostile', INJECTED, SHOWN],
  ])('in whoami, list-keys and list-idps (%s)', async (_name, value, shown) => {
    const token = fakeJwt({ iss: 'https://token.actions.githubusercontent.com', sub: `repo:acme/app${value}` });
    const answer = (request: RecordedRequest): FakeAnswer =>
      request.url === '/credentials/idp-providers'
        ? { status: 200, body: [{ name: `github${value}`, isDefault: true }] }
        : {
            status: 200,
            body: {
              idp: `github${value}`,
              subject: `repo:acme/app${value}`,
              identities: [`deploy${value}`],
              keys: [{ name: `AWS${value}`, provider: `aws${value}`, type: 'aws-sts', identity: `deploy${value}`, outputs: [`OUT${value}`], duration: { default: 900, min: 900, max: 3600 } }],
            },
          };
    const env = baseEnv({ VOIDKEY_OIDC_TOKEN: token });
    const [whoami, keys, idps] = await withBroker(answer, () => Promise.all([voidkey(['whoami'], env), voidkey(['list-keys'], env), voidkey(['list-idps'], env)]));
    expect([whoami.code, keys.code, idps.code]).toEqual([0, 0, 0]);
    expect(whoami.stdout).toContain(`claims:     iss=https://token.actions.githubusercontent.com sub=repo:acme/app${shown} (unverified)\nidp:        github${shown}\nsubject:    repo:acme/app${shown}\nidentities: deploy${shown}\nkeys:       AWS${shown}\n`);
    expect(keys.stdout.split('\n')[1]).toBe(`AWS${shown}  aws${shown}  aws-sts  deploy${shown}  900/900/3600                  OUT${shown}`);
    expect(idps.stdout).toBe(`github${shown} (default)\n`);
    for (const run of [whoami, keys, idps]) expectNoInjectedLine(run.stdout);
  });

  it.each([
    ['benign', BENIGN, BENIGN],
    ['hostile', INJECTED, SHOWN],
  ])('in whoami\'s clues when the broker refuses the token (%s)', async (_name, value, shown) => {
    const token = fakeJwt({ iss: `https://issuer.example${value}`, sub: 'x' });
    const run = await voidkey(['whoami'], baseEnv({ VOIDKEY_OIDC_TOKEN: token }));
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`claims:     iss=https://issuer.example${shown} sub=x (unverified)\n`);
    expectNoInjectedLine(run.stderr);
  });

  const config = (value: string) => `brokerIdp:
  clientId: voidkey-broker
  clientSecret: not-a-secret
  tokenEndpoint: https://idp.example.com/token
clientIdps:
  - name: github-actions
    issuer: https://token.actions.githubusercontent.com
    audience: https://broker.example.com
accessProviders:
  - name: aws-prod
    type: aws-sts
clientIdentities:
  - name: ${JSON.stringify(`any-branch${value}`)}
    subjectPattern: ${JSON.stringify(`repo:acme/*:ref:refs/heads/*${value}`)}
    idp: github-actions
    keys:
      AWS_READONLY: { provider: aws-prod, roleArn: "arn:aws:iam::111122223333:role/ro", outputs: { AWS_ACCESS_KEY_ID: AccessKeyId } }
`;

  it.each([
    ['benign', BENIGN, BENIGN],
    ['hostile', INJECTED, SHOWN],
  ])('in config validate and explain, text format (%s)', async (name, value, shown) => {
    const file = join(dir, `config-${name}.yaml`);
    writeFileSync(file, config(value));
    const validate = await voidkey(['config', 'validate', file]);
    expect(validate.code).toBe(0);
    expect(validate.stdout).toContain(`${file}:14:5: warning: clientIdentities[0].subjectPattern: 'repo:acme/*:ref:refs/heads/*${shown}' matches every repository of the organisation\n`);
    expectNoInjectedLine(validate.stdout);

    const claims = JSON.stringify({ iss: 'https://token.actions.githubusercontent.com', aud: 'https://broker.example.com', sub: `repo:other/app${value}`, ref: `main${value}` });
    const explain = await voidkey(['config', 'explain', file, '--claims', claims]);
    expect(explain.code).toBe(4);
    expect(explain.stdout).toContain(`subject:  repo:other/app${shown}\n`);
    expect(explain.stdout).toContain(`  any-branch${shown}  clientIdentities[0]  subjectPattern ${JSON.stringify(`repo:acme/*:ref:refs/heads/*${value}`).replaceAll('\u2028', '\\u2028')}\n`);
    expectNoInjectedLine(explain.stdout);
  });

  it.each([
    ['benign', BENIGN, BENIGN],
    ['hostile', INJECTED, SHOWN],
  ])('in errors that quote the config (%s)', async (_name, value, shown) => {
    const file = join(dir, 'config-idp.yaml');
    writeFileSync(file, config(''));
    const run = await voidkey(['config', 'explain', file, '--claims', JSON.stringify({ iss: `https://elsewhere.example${value}`, sub: 'x' })]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`no IdP in the config has the issuer https://elsewhere.example${shown};`);
    expectNoInjectedLine(run.stderr);
  });
});

describe('audit verify', () => {
  it('refuses a record with a forged duplicate event member (the real one last), exit 7', async () => {
    const lines: string[] = [];
    let prevHash = GENESIS_HASH;
    for (let seq = 0; seq < 3; seq++) {
      const event = { requestId: `req-${seq}`, outcome: 'allowed' };
      const hash = recordHash(seq, prevHash, event);
      lines.push(JSON.stringify({ seq, prevHash, hash, event }));
      prevHash = hash;
    }
    const intact = join(dir, 'audit-intact.jsonl');
    writeFileSync(intact, `${lines.join('\n')}\n`);
    // Positive control: the file as written verifies.
    const ok = await voidkey(['audit', 'verify', intact]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok: 3 records \(0 signed\), last hash [0-9a-f]{64}\n/);

    const forged = join(dir, 'audit-forged.jsonl');
    writeFileSync(forged, `${lines.map((line, i) => (i === 1 ? line.replace('"event":', '"event":{"requestId":"req-1","outcome":"denied"},"event":') : line)).join('\n')}\n`);
    const run = await voidkey(['audit', 'verify', forged]);
    expect(run.code).toBe(7);
    expect(run.stdout).toBe(`${forged}:2: record 1: has two members of the same name (edited: the broker never writes one)\n`);
  });
});
