/**
 * The GitHub Action as a runner runs it: `node action/dist/index.js` (the committed
 * bundle) with INPUT_* variables, GITHUB_ENV/GITHUB_OUTPUT files and an ID-token
 * endpoint on loopback that answers with real signed JWTs. First against a fake of the
 * broker's API, then end to end against the real server and STS sandboxes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOSTILE_VALUES, startFakeServer, type FakeAnswer, type FakeServer, type RecordedRequest } from '../cli/test-support/fake-broker';
import { startSandbox, type Sandbox } from '../test/e2e/sandbox';
import { startTokenIssuer, type TokenIssuer } from '../sandbox/token-issuer';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..');
const BUNDLE = join(ROOT, 'action/dist/index.js');
const REQUEST_TOKEN = 'actions-runtime-request-token';

interface ActionRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly env: Map<string, string>;
  readonly outputs: Map<string, string>;
}

/** Runs the bundle with the environment a runner gives a `uses:` step. */
async function runAction(inputs: Record<string, string>, runner: { idTokenUrl?: string } = {}): Promise<ActionRun> {
  const dir = mkdtempSync(join(tmpdir(), 'voidkey-action-'));
  const envFile = join(dir, 'github_env');
  const outputFile = join(dir, 'github_output');
  writeFileSync(envFile, '');
  writeFileSync(outputFile, '');
  // action.yml's defaults, as the runner fills them in; @actions/core reads INPUT_<NAME> uppercased, dashes kept.
  const defaults: Record<string, string> = { keys: '', all: 'false', audience: '', duration: '', idp: '', timeout: '30000' };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    GITHUB_ACTIONS: 'true',
    GITHUB_ENV: envFile,
    GITHUB_OUTPUT: outputFile,
    ...(runner.idTokenUrl === undefined ? {} : { ACTIONS_ID_TOKEN_REQUEST_URL: runner.idTokenUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN }),
  };
  for (const [name, value] of Object.entries({ ...defaults, ...inputs })) env[`INPUT_${name.toUpperCase()}`] = value;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(process.execPath, [BUNDLE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', fail);
    child.on('close', (exitCode) => done({ code: exitCode, stdout: out, stderr: err }));
  });
  return { code, stdout, stderr, env: readFileCommands(envFile), outputs: readFileCommands(outputFile) };
}

/** The runner's reading of GITHUB_ENV / GITHUB_OUTPUT: `NAME=value` or `NAME<<DELIMITER` … `DELIMITER`. */
function readFileCommands(path: string): Map<string, string> {
  const lines = readFileSync(path, 'utf8').split('\n');
  const values = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const end = lines.indexOf(heredoc[2]!, i + 1);
      if (end === -1) throw new Error(`unterminated entry ${heredoc[1]}`);
      values.set(heredoc[1]!, lines.slice(i + 1, end).join('\n'));
      i = end;
    } else {
      const eq = line.indexOf('=');
      values.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }
  return values;
}

/** The runner's unescaping of a workflow command's data. */
const unescapeData = (data: string) => data.replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%25', '%');

/** Every line up to the last mask is a mask or a (hidden) debug line: nothing can show a secret before it is masked. */
function expectMasksFirst(stdout: string): string[] {
  const lines = stdout.split('\n');
  const lastMask = lines.map((line) => line.startsWith('::add-mask::')).lastIndexOf(true);
  expect(lastMask).toBeGreaterThanOrEqual(0);
  expect(lines.slice(0, lastMask + 1).filter((line) => !/^::(add-mask|debug)::/.test(line))).toEqual([]);
  return lines.filter((line) => line.startsWith('::add-mask::')).map((line) => unescapeData(line.slice('::add-mask::'.length)));
}

/** A secret may appear on stdout only inside its own `::add-mask::` command, which the runner never prints. */
function expectOnlyMasked(stdout: string, secret: string): void {
  const visible = stdout.split('\n').filter((line) => !line.startsWith('::add-mask::')).join('\n');
  expect(visible).not.toContain(secret);
}

/** GitHub's ID-token endpoint: `?api-version=2.0&audience=…`, Bearer the runtime's request token, `{value}`. */
async function startIdTokenEndpoint(sign: (audience: string | undefined) => Promise<string>): Promise<FakeServer & { issued: string[] }> {
  const issued: string[] = [];
  const server = await startFakeServer(async (request: RecordedRequest) => {
    if (request.headers.authorization !== `Bearer ${REQUEST_TOKEN}`) return { status: 401, body: { message: 'bad request token' } };
    const audience = new URL(request.url, 'http://x').searchParams.get('audience') ?? undefined;
    const value = await sign(audience);
    issued.push(value);
    return { status: 200, body: { count: 1, value } };
  });
  return Object.assign(server, { issued });
}

describe('the committed bundle', () => {
  it('is what scripts/bundle-action.mjs builds from the sources (rebuild and commit action/dist when this fails)', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'voidkey-action-bundle-')), 'index.js');
    execFileSync(process.execPath, [join(ROOT, 'scripts/bundle-action.mjs'), out], { cwd: ROOT, stdio: 'pipe' });
    const rebuilt = readFileSync(out, 'utf8');
    const committed = readFileSync(BUNDLE, 'utf8');
    // Not toBe: a 900 kB diff helps no one.
    expect(rebuilt === committed).toBe(true);
  });

  it('is what action.yml runs, on node24', () => {
    const metadata = readFileSync(join(ROOT, 'action.yml'), 'utf8');
    expect(metadata).toMatch(/^runs:\n {2}using: node24\n {2}main: action\/dist\/index\.js$/m);
  });
});

describe('the Action against a fake broker', () => {
  let issuer: TokenIssuer;
  let idTokens: Awaited<ReturnType<typeof startIdTokenEndpoint>>;
  let broker: FakeServer;
  const minted = {
    AWS_DEPLOY: {
      credentials: { AWS_ACCESS_KEY_ID: 'ASIAFAKEEXAMPLE', AWS_SECRET_ACCESS_KEY: 's3cr3t/+value', AWS_SESSION_TOKEN: 'Fwo\nmulti-line\ntoken' },
      expiresAt: '2030-01-02T03:04:05.000Z',
      metadata: { provider: 'aws-prod', type: 'aws-sts', identity: 'app-main' },
    },
    HOSTILE: { credentials: HOSTILE_VALUES, expiresAt: '2030-01-02T03:04:05.000Z', metadata: { provider: 'aws-prod', type: 'aws-sts', identity: 'app-main' } },
    // The broker's expiry is printed in the log: it must not start a workflow command there.
    INJECTED: { credentials: { GCP_TOKEN: 'ya29.x' }, expiresAt: '2000\n::set-output name=pwned::1', metadata: { provider: 'gcp-prod', type: 'gcp', identity: 'app-main' } },
  };

  function answer(request: RecordedRequest): FakeAnswer {
    const body = JSON.parse(request.body || '{}') as { keys?: string[]; all?: boolean };
    if (body.keys?.includes('DENIED')) {
      return { status: 403, body: { error: 'key_not_permitted', code: 'ERR_KEY_NOT_PERMITTED', message: 'key DENIED is not permitted for this identity', requestId: 'rid-403' } };
    }
    const keys = body.all === true ? ['AWS_DEPLOY'] : (body.keys ?? []);
    return { status: 200, body: Object.fromEntries(keys.map((key) => [key, minted[key as keyof typeof minted]])) };
  }

  beforeAll(async () => {
    issuer = await startTokenIssuer({ audience: 'https://broker.example.com' });
    idTokens = await startIdTokenEndpoint((audience) => issuer.githubToken(audience === undefined ? {} : { aud: audience }));
    broker = await startFakeServer(answer);
  });
  afterAll(async () => {
    await Promise.all([broker?.close(), idTokens?.close(), issuer?.close()]);
  });
  beforeEach(() => {
    broker.requests.length = 0;
    idTokens.requests.length = 0;
    idTokens.issued.length = 0;
  });

  it('masks every value first, then exports it and sets it as an output', async () => {
    const run = await runAction({ 'broker-url': broker.url, keys: 'AWS_DEPLOY,HOSTILE', audience: 'https://broker.example.com' }, { idTokenUrl: `${idTokens.url}/token?api-version=2.0` });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);

    // The ID token was asked for with the audience and the runtime's token, and sent as a Bearer token, never in the body.
    expect(idTokens.requests.map((r) => r.url)).toEqual(['/token?api-version=2.0&audience=https%3A%2F%2Fbroker.example.com']);
    const [idToken] = idTokens.issued;
    expect(broker.requests).toHaveLength(1);
    expect(broker.requests[0]).toMatchObject({ method: 'POST', url: '/credentials/mint', headers: { authorization: `Bearer ${idToken}` } });
    expect(JSON.parse(broker.requests[0]!.body)).toEqual({ keys: ['AWS_DEPLOY', 'HOSTILE'] });

    const masks = expectMasksFirst(run.stdout);
    const expected = new Map(Object.entries({ ...minted.AWS_DEPLOY.credentials, ...minted.HOSTILE.credentials }));
    for (const value of expected.values()) {
      for (const line of value.split(/\r?\n/).filter((l) => l.trim() !== '')) expect(masks).toContain(line);
    }
    expect(masks).toContain(idToken);
    expect(run.env).toEqual(expected);
    expect(run.outputs).toEqual(expected);
    expect(run.stdout).toContain(
      `voidkey: exported ${[...expected.keys()].join(', ')} to the environment and the step's outputs; the first expires at 2030-01-02T03:04:05.000Z\n`,
    );
    for (const value of [minted.AWS_DEPLOY.credentials.AWS_SECRET_ACCESS_KEY, 'multi-line', idToken!]) expectOnlyMasked(run.stdout, value);
  });

  it('prints the broker\'s expiry with its control characters escaped', async () => {
    // The positive control is the test above: a plain expiry is printed as sent.
    const run = await runAction({ 'broker-url': broker.url, keys: 'AWS_DEPLOY,INJECTED' }, { idTokenUrl: `${idTokens.url}/token?api-version=2.0` });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('; the first expires at 2000\\n::set-output name=pwned::1\n');
    expect(run.stdout.split('\n').filter((line) => line.startsWith('::set-output'))).toEqual([]);
  });

  it('passes all, duration and idp to the broker as `voidkey mint` does', async () => {
    const run = await runAction({ 'broker-url': `${broker.url}/prefix`, all: 'true', duration: '900', idp: 'github-actions' }, { idTokenUrl: `${idTokens.url}/token?api-version=2.0` });
    expect(run.code).toBe(0);
    expect(broker.requests[0]!.url).toBe('/prefix/credentials/mint');
    expect(JSON.parse(broker.requests[0]!.body)).toEqual({ all: true, duration: 900, idpName: 'github-actions' });
    // No audience input: GitHub's default audience.
    expect(idTokens.requests[0]!.url).toBe('/token?api-version=2.0');
    expect(run.env.get('AWS_ACCESS_KEY_ID')).toBe('ASIAFAKEEXAMPLE');
  });

  it('fails the step with the broker\'s reason and request id, exporting nothing', async () => {
    const run = await runAction({ 'broker-url': broker.url, keys: 'AWS_DEPLOY,DENIED' }, { idTokenUrl: `${idTokens.url}/token?api-version=2.0` });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('::error::voidkey: denied (key_not_permitted): key DENIED is not permitted for this identity [request id: rid-403]\n');
    expect(run.env.size + run.outputs.size).toBe(0);
    expectOnlyMasked(run.stdout, idTokens.issued[0]!);
    expect(run.stderr).toBe('');
  });

  it.each([
    ['no keys', { keys: '' }, /set the keys input/],
    ['keys and all', { keys: 'A', all: 'true' }, /not both/],
    ['a bad all', { keys: 'A', all: 'yes' }, /all input must be true or false/],
    ['a bad duration', { keys: 'A', duration: '15m' }, /duration input must be a positive whole number/],
    ['plain http to a remote broker', { keys: 'A', 'broker-url': 'http://broker.example.com' }, /broker-url: refusing to send a token over plain http/],
  ])('fails on %s before asking for a token', async (_name, inputs, message) => {
    const run = await runAction({ 'broker-url': broker.url, ...inputs }, { idTokenUrl: `${idTokens.url}/token?api-version=2.0` });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^::error::voidkey: usage: /m);
    expect(run.stdout).toMatch(message);
    expect(idTokens.requests).toHaveLength(0);
    expect(broker.requests).toHaveLength(0);
  });

  it('says to grant id-token: write when the job cannot get a token', async () => {
    const run = await runAction({ 'broker-url': broker.url, keys: 'AWS_DEPLOY' });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^::error::voidkey: token: cannot get the job's OIDC token from GitHub .*id-token: write/m);
    expect(broker.requests).toHaveLength(0);
  });
});

describe('the Action end to end: real broker process, STS sandboxes', () => {
  let sandbox: Sandbox;
  let idTokens: Awaited<ReturnType<typeof startIdTokenEndpoint>>;

  beforeAll(async () => {
    sandbox = await startSandbox();
    idTokens = await startIdTokenEndpoint((audience) => sandbox.github.githubToken({ repository_id: '123456789', ...(audience === undefined ? {} : { aud: audience }) }));
  });
  afterAll(async () => {
    await Promise.all([idTokens?.close(), sandbox?.close()]);
  });

  it('exports what STS issued for every key', async () => {
    const run = await runAction({ 'broker-url': sandbox.broker.url, keys: 'AWS_DEPLOY\nARTIFACTS', audience: 'https://broker.example.com' }, { idTokenUrl: `${idTokens.url}/token?api-version=2.0` });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [aws] = sandbox.aws.issued;
    const [minio] = sandbox.minio.issued;
    const masks = expectMasksFirst(run.stdout);
    for (const secret of [aws!.secretAccessKey, aws!.sessionToken, minio!.secretAccessKey, minio!.sessionToken]) {
      expect(masks).toContain(secret);
      expectOnlyMasked(run.stdout, secret);
    }
    expect(run.env.get('AWS_ACCESS_KEY_ID')).toBe(aws!.accessKeyId);
    expect(run.env.get('AWS_SECRET_ACCESS_KEY')).toBe(aws!.secretAccessKey);
    expect(run.env.get('AWS_SESSION_TOKEN')).toBe(aws!.sessionToken);
    expect(run.env.get('AWS_REGION')).toBe('us-east-1');
    expect(run.env.get('MINIO_ACCESS_KEY')).toBe(minio!.accessKeyId);
    expect(run.env.get('MINIO_ENDPOINT')).toBe(sandbox.minio.url);
    expect(run.outputs).toEqual(run.env);
    expectOnlyMasked(run.stdout, idTokens.issued[0]!);
  });

  it('fails with the broker\'s reason and request id when the key is not granted', async () => {
    sandbox.aws.reset();
    const run = await runAction({ 'broker-url': sandbox.broker.url, keys: 'AWS_DEPLOY,PROD_ADMIN', audience: 'https://broker.example.com' }, { idTokenUrl: `${idTokens.url}/token?api-version=2.0` });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^::error::voidkey: denied \(key_not_permitted\): .*\[request id: [\w-]+\]$/m);
    expect(run.env.size).toBe(0);
    expect(sandbox.aws.calls).toBe(0);
    expectOnlyMasked(run.stdout, idTokens.issued.at(-1)!);
  });

  it('fails with token_audience_mismatch when the audience input is not the broker\'s', async () => {
    const run = await runAction({ 'broker-url': sandbox.broker.url, keys: 'AWS_DEPLOY', audience: 'sts.amazonaws.com' }, { idTokenUrl: `${idTokens.url}/token?api-version=2.0` });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^::error::voidkey: token \(audience_mismatch\): .*\[request id: [\w-]+\]$/m);
  });
});
