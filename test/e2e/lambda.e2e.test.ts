import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { httpApiEvent, restApiEvent } from '../support/api-gateway-events';
import { REPO_ROOT } from '../../sandbox/broker-process';
import { startLocalIdp, type LocalIdp } from '../../sandbox/local-idp';
import { BROKER_AUDIENCE, MINIO_ROLE, sandboxConfigText } from '../../sandbox/sandbox-config';
import { startStsEmulator, type StsEmulator } from '../../sandbox/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';

jest.setTimeout(120_000);

interface Invocation {
  readonly statusCode: number;
  readonly headers?: Record<string, string>;
  readonly multiValueHeaders?: Record<string, string[]>;
  readonly body: string;
  readonly isBase64Encoded?: boolean;
}

/**
 * Loads the bundle the way the nodejs24.x runtime does (an ES module from a directory
 * with no node_modules), then invokes `handler` once per event, in order.
 */
const INVOKER = `import { readFileSync, writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
// Every module file the process loads, in order (the bundle's chunks included).
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
// With -e, the arguments start at argv[1].
const [bundle, eventsFile, resultsFile] = process.argv.slice(1);
const { handler } = await import(bundle);
const results = [];
for (const [index, event] of JSON.parse(readFileSync(eventsFile, 'utf8')).entries()) {
  results.push(await handler(event, { awsRequestId: 'bundle-invocation-' + index }));
}
writeFileSync(resultsFile, JSON.stringify(results));
writeFileSync(resultsFile + '.loaded', JSON.stringify(loaded));
process.exit(0);
`;

describe('the Lambda bundle (dist/lambda/index.js), loaded by Node 24 like the Lambda runtime', () => {
  let dir: string;
  let metafile: string;
  let github: TokenIssuer;
  let brokerIdp: LocalIdp;
  let aws: StsEmulator;
  let minio: StsEmulator;
  let config: string;
  const clientSecret = `canary-client-secret-${randomBytes(12).toString('hex')}`;

  async function invoke(events: Array<APIGatewayProxyEvent | APIGatewayProxyEventV2>, env: Record<string, string>): Promise<{ results: Invocation[]; output: string; loaded: string[] }> {
    const eventsFile = join(dir, `events-${randomBytes(4).toString('hex')}.json`);
    const resultsFile = `${eventsFile}.results`;
    writeFileSync(eventsFile, JSON.stringify(events));
    const child = spawn(process.execPath, ['--input-type=module', '-e', INVOKER, join(dir, 'index.js'), eventsFile, resultsFile], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });
    const loaded = (JSON.parse(readFileSync(`${resultsFile}.loaded`, 'utf8')) as string[]).filter((url) => url.startsWith('file:')).map((url) => fileURLToPath(url));
    return { results: JSON.parse(readFileSync(resultsFile, 'utf8')) as Invocation[], output, loaded };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'voidkey-lambda-e2e-'));
    // The script also smoke-tests the bundle from a directory without node_modules.
    metafile = `${dir}.meta.json`;
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'scripts/bundle-lambda.mjs'), '--out', dir, '--metafile', metafile], { cwd: REPO_ROOT });
    github = await startTokenIssuer({ audience: 'https://broker.example.com' });
    brokerIdp = await startLocalIdp({ clients: [{ clientId: 'voidkey-broker', clientSecret }] });
    const trust = { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: BROKER_AUDIENCE };
    aws = await startStsEmulator({ flavor: 'aws', trust, maxSessionDuration: 3600 });
    minio = await startStsEmulator({ flavor: 'minio', trust, minioRoleArn: MINIO_ROLE });
    config = sandboxConfigText({ github, brokerIdp, aws, minio });
    writeFileSync(join(dir, 'config.yaml'), config);
  });
  afterAll(async () => {
    await Promise.all([github?.close(), brokerIdp?.close(), aws?.close(), minio?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (metafile) rmSync(metafile, { force: true });
  });

  it('is an ES module (index.js and the chunks it imports) plus a package.json that makes Lambda load it as one', () => {
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))).toMatchObject({ type: 'module' });
    expect(existsSync(join(dir, 'index.js'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules'))).toBe(false);
  });

  it('loads no provider code or cloud SDK to start and answer /health; a mint loads its own provider type only', async () => {
    const meta = JSON.parse(readFileSync(metafile, 'utf8')) as { outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }> };
    /** The sources (our files and node_modules packages) inside the bundle files a process loaded. */
    const sourcesOf = (files: string[]) =>
      files.flatMap((file) => Object.entries(meta.outputs[relative(REPO_ROOT, file)]?.inputs ?? {}).filter(([, input]) => input.bytesInOutput > 0).map(([source]) => source));
    const SDKS = /node_modules\/(@aws-sdk|@smithy|google-auth-library|gaxios|@azure)\//;
    // Their descriptors (schemas, checks) validate the config; their minting code must not load.
    const GCP_OR_AZURE = /node_modules\/(google-auth-library|gaxios|@azure)\/|providers\/(gcp\/gcp-provider|azure\/azure-provider)\.ts$/;
    // The bundle does carry every provider and SDK: not loading them is the point.
    const everything = sourcesOf(Object.keys(meta.outputs).map((output) => join(REPO_ROOT, output)));
    for (const name of ['providers/aws-sts/aws-sts-provider.ts', 'node_modules/google-auth-library/', 'node_modules/@azure/identity/', 'providers/azure/azure-provider.ts']) {
      expect(everything.some((source) => source.includes(name))).toBe(true);
    }
    const token = await github.githubToken({ repository_id: '123456789' });
    const env = { VOIDKEY_CONFIG: join(dir, 'config.yaml'), BROKER_CLIENT_SECRET: clientSecret };

    // Positive control first: a mint loads the aws-sts provider, and the load record sees it.
    const minted = await invoke(
      [
        httpApiEvent({ method: 'GET', path: '/health' }),
        httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"keys":["AWS_DEPLOY"]}' }),
      ],
      env,
    );
    expect(minted.results.map((result) => result.statusCode)).toEqual([200, 200]);
    const afterMint = sourcesOf(minted.loaded);
    expect(afterMint.filter((source) => source.endsWith('providers/aws-sts/aws-sts-provider.ts'))).toHaveLength(1);
    expect(afterMint.filter((source) => GCP_OR_AZURE.test(source))).toEqual([]);

    const started = await invoke([httpApiEvent({ method: 'GET', path: '/health' })], env);
    expect(started.results.map((result) => result.statusCode)).toEqual([200]);
    const atStart = sourcesOf(started.loaded);
    expect(atStart.filter((source) => source.includes('broker-server/create-app.ts'))).toHaveLength(1);
    expect(atStart.filter((source) => /providers\/[^/]+\/[a-z-]+-provider\.ts$/.test(source) || SDKS.test(source))).toEqual([]);
    // The config's schemas come precompiled, generated into the bundle from its own sources.
    expect(atStart.filter((source) => source.includes('precompiled-validators:'))).toHaveLength(1);
  });

  it('serves v1 and v2 events from VOIDKEY_CONFIG: health, a mint whose credentials are the ones STS issued, a 401', async () => {
    const token = await github.githubToken({ repository_id: '123456789' });
    const expired = await github.githubToken({ repository_id: '123456789' }, { expiresIn: -600 });
    const jwksBefore = github.counts.jwks;
    const { results, output } = await invoke(
      [
        restApiEvent({ method: 'GET', path: '/health', stage: 'prod' }),
        httpApiEvent({ method: 'POST', path: '/credentials/mint', stage: 'prod', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"keys":["AWS_DEPLOY"]}' }),
        restApiEvent({ method: 'POST', path: '/credentials/mint', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ oidcToken: token, keys: ['ARTIFACTS'] }), base64: true }),
        httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { authorization: `Bearer ${expired}`, 'content-type': 'application/json' }, body: '{"keys":["AWS_DEPLOY"]}' }),
      ],
      { VOIDKEY_CONFIG: join(dir, 'config.yaml'), BROKER_CLIENT_SECRET: clientSecret },
    );
    const [health, mintV2, mintV1, unauthorized] = results;
    expect(health).toMatchObject({ statusCode: 200, isBase64Encoded: false, headers: { 'x-request-id': 'bundle-invocation-0' } });
    expect(JSON.parse(health!.body)).toMatchObject({ status: 'ok', version: expect.any(String) });

    expect(mintV2!.statusCode).toBe(200);
    const issued = aws.issued.at(-1);
    expect(JSON.parse(mintV2!.body).AWS_DEPLOY.credentials).toMatchObject({
      AWS_ACCESS_KEY_ID: issued!.accessKeyId,
      AWS_SECRET_ACCESS_KEY: issued!.secretAccessKey,
      AWS_SESSION_TOKEN: issued!.sessionToken,
    });
    expect(mintV1!.statusCode).toBe(200);
    expect(JSON.parse(mintV1!.body).ARTIFACTS.credentials.MINIO_ACCESS_KEY).toBe(minio.issued[0]!.accessKeyId);

    expect(unauthorized).toMatchObject({ statusCode: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } });
    expect(JSON.parse(unauthorized!.body)).toMatchObject({ error: 'token_expired', requestId: 'bundle-invocation-3' });

    // One container: one JWKS fetch for three token checks.
    expect(github.counts.jwks - jwksBefore).toBe(1);
    for (const secret of [token, expired, clientSecret, issued!.secretAccessKey, issued!.sessionToken, minio.issued[0]!.secretAccessKey]) {
      expect(output).not.toContain(secret);
    }
    expect(output).toContain('voidkey broker ready (lambda)');
  });

  it('an invalid VOIDKEY_CONFIG_YAML (and a bad LOG_LEVEL): the module still loads, logs the problems once and answers 503 config_invalid', async () => {
    const broken = config.replace('clientIdps:', 'clientIdpz:');
    const { results, output } = await invoke([httpApiEvent({ method: 'GET', path: '/health' }), restApiEvent({ method: 'GET', path: '/credentials/idp-providers' })], {
      VOIDKEY_CONFIG_YAML: broken,
      BROKER_CLIENT_SECRET: clientSecret,
      LOG_LEVEL: 'verbose',
    });
    expect(output).toContain('unknown LOG_LEVEL: logging at info');
    expect(results.map((result) => [result.statusCode, JSON.parse(result.body).error])).toEqual([
      [503, 'config_invalid'],
      [503, 'config_invalid'],
    ]);
    const logged = output.split('\n').filter((line) => line.includes('config invalid'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/VOIDKEY_CONFIG_YAML:\d+:\d+: /);
    expect(output).not.toContain(clientSecret);
  });
});
