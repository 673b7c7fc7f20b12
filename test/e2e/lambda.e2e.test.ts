import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
// The built-in modules the process loaded, those other built-ins required included.
writeFileSync(resultsFile + '.builtins', JSON.stringify(process.moduleLoadList.filter((name) => name.startsWith('NativeModule ')).map((name) => name.slice('NativeModule '.length))));
process.exit(0);
`;

/** scripts/bundle-common.mjs LAZY_MODULES: each entry's name and the module it must be. */
const LAZY_ENTRIES = [
  ['prom-client-pushgateway', 'node_modules/prom-client/lib/pushgateway.js'],
  ['prom-client-cluster', 'node_modules/prom-client/lib/cluster.js'],
  ['opentelemetry-api', 'node_modules/@opentelemetry/api/dist/index.cjs'],
  ['fastify-validator-compiler', 'node_modules/@fastify/ajv-compiler/lib/validator-compiler.js'],
  ['fastify-serializer-compiler', 'node_modules/@fastify/ajv-compiler/lib/serializer-compiler.js'],
  ['fast-json-stringify', 'node_modules/fast-json-stringify/index.js'],
  ['ajv', 'node_modules/ajv/dist/ajv.js'],
  ['thread-stream', 'node_modules/thread-stream/index.js'],
] as const;

describe('the Lambda bundle (dist/lambda/index.js), loaded by Node 24 like the Lambda runtime', () => {
  let dir: string;
  let metafile: string;
  let github: TokenIssuer;
  let brokerIdp: LocalIdp;
  let aws: StsEmulator;
  let minio: StsEmulator;
  let config: string;
  const clientSecret = `canary-client-secret-${randomBytes(12).toString('hex')}`;

  async function invoke(
    events: Array<APIGatewayProxyEvent | APIGatewayProxyEventV2>,
    env: Record<string, string>,
    bundleDir = dir,
  ): Promise<{ results: Invocation[]; output: string; loaded: string[]; builtins: string[] }> {
    const eventsFile = join(dir, `events-${randomBytes(4).toString('hex')}.json`);
    const resultsFile = `${eventsFile}.results`;
    writeFileSync(eventsFile, JSON.stringify(events));
    const child = spawn(process.execPath, ['--input-type=module', '-e', INVOKER, join(bundleDir, 'index.js'), eventsFile, resultsFile], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });
    const loaded = (JSON.parse(readFileSync(`${resultsFile}.loaded`, 'utf8')) as string[]).filter((url) => url.startsWith('file:')).map((url) => fileURLToPath(url));
    const builtins = JSON.parse(readFileSync(`${resultsFile}.builtins`, 'utf8')) as string[];
    return { results: JSON.parse(readFileSync(resultsFile, 'utf8')) as Invocation[], output, loaded, builtins };
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

    // Modules only rare paths use are entries of their own (lazy/), neither parsed nor run at start.
    const RARE = /node_modules\/(ajv\/dist\/ajv\.js|ajv-formats\/|fast-json-stringify\/index\.js|@fastify\/ajv-compiler\/lib\/|@opentelemetry\/api\/|thread-stream\/|prom-client\/lib\/(pushgateway|cluster)\.js)/;
    expect(everything.filter((source) => RARE.test(source)).length).toBeGreaterThan(6);
    expect(started.loaded.filter((file) => relative(dir, file).startsWith('lazy/'))).toEqual([]);
    expect(atStart.filter((source) => RARE.test(source))).toEqual([]);
    // rxjs is tree-shaken ES modules: only what NestJS imports.
    expect(atStart.filter((source) => source.includes('node_modules/rxjs/dist/cjs/'))).toEqual([]);
    expect(atStart.filter((source) => source.includes('node_modules/rxjs/dist/esm/')).length).toBeGreaterThan(0);
    // TLS, HTTP/2, DNS and fs/promises load on first use (an https upstream, a listening server), not at start.
    expect(started.builtins).toEqual(expect.arrayContaining(['http', 'crypto']));
    expect(started.builtins.filter((name) => ['tls', 'https', 'http2', 'dns', 'fs/promises'].includes(name))).toEqual([]);
    // NestJS's console logger builds its Intl.DateTimeFormat on first use (source-patches in scripts/bundle-common.mjs).
    const main = readFileSync(join(dir, 'main.js'), 'utf8');
    expect(/dateTimeFormatterInstance\s*\?\?=\s*new Intl\.DateTimeFormat\(/.test(main)).toBe(true);
    expect(/dateTimeFormatter\s*=\s*new Intl\.DateTimeFormat\(/.test(main)).toBe(false);
  });

  it('each lazy/ entry is the real module, loaded with require() from the bundle folder alone', async () => {
    const entries = readdirSync(join(dir, 'lazy')).filter((name) => name.endsWith('.js'));
    expect(entries.sort()).toEqual(LAZY_ENTRIES.map(([name]) => `${name}.js`).sort());
    const probe = `const [file, real] = process.argv.slice(1);
const lazy = require(file).default;
const original = require(real);
const keys = (value) => Object.keys(value).sort().join(',');
let works = null;
if (file.endsWith('/ajv.js')) { const validate = new lazy.default().compile({ type: 'string' }); works = [validate('x'), validate(1)]; }
process.stdout.write(JSON.stringify({ type: typeof lazy, sameType: typeof lazy === typeof original, sameKeys: keys(lazy) === keys(original), works }));`;
    for (const [name, real] of LAZY_ENTRIES) {
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', probe, join(dir, 'lazy', `${name}.js`), join(REPO_ROOT, real)], { cwd: tmpdir() });
      expect({ name, ...JSON.parse(stdout) }).toEqual({ name, type: expect.stringMatching(/^(function|object)$/), sameType: true, sameKeys: true, works: name === 'ajv' ? [true, false] : null });
    }
  });

  it('ships a V8 compile cache that a cold start reads and does not rewrite; a stale one is ignored', async () => {
    const env = { VOIDKEY_CONFIG: join(dir, 'config.yaml'), BROKER_CLIENT_SECRET: clientSecret, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' };
    const cacheFiles = (bundle: string) =>
      readdirSync(join(bundle, 'compile-cache'), { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => { const file = join(entry.parentPath, entry.name); return `${relative(bundle, file)}:${statSync(file).size}:${statSync(file).mtimeMs}`; })
        .sort();
    const copy = mkdtempSync(join(tmpdir(), 'voidkey-lambda-copy-'));
    try {
      cpSync(dir, copy, { recursive: true });
      const before = cacheFiles(copy);
      expect(before.length).toBeGreaterThan(10);
      const fresh = await invoke([httpApiEvent({ method: 'GET', path: '/health' })], env, copy);
      expect(fresh.results.map((result) => result.statusCode)).toEqual([200]);
      const accepted = (output: string) => [...output.matchAll(/V8 code cache for ESM (\S+) was accepted/g)].map((match) => relative(copy, fileURLToPath(match[1]!)));
      // Every bundle file the start loaded after index.js (which turns the cache on) compiled from the cache.
      const bundleFiles = fresh.loaded.filter((file) => file.startsWith(copy)).map((file) => relative(copy, file));
      expect(bundleFiles).toEqual(expect.arrayContaining(['index.js', 'main.js']));
      expect(accepted(fresh.output).sort()).toEqual(bundleFiles.filter((file) => file !== 'index.js').sort());
      expect(fresh.output).not.toMatch(/writing cache|mismatch|rejected/);
      expect(cacheFiles(copy)).toEqual(before);

      // A main.js the cache was not made for: its entry is refused, the broker starts as without one.
      writeFileSync(join(copy, 'main.js'), `${readFileSync(join(copy, 'main.js'), 'utf8')}\n// changed after the build\n`);
      const stale = await invoke([httpApiEvent({ method: 'GET', path: '/health' })], env, copy);
      expect(stale.results.map((result) => result.statusCode)).toEqual([200]);
      expect(stale.output).toMatch(/main\.js\.\.\.\[[^\]]*\]\.\.\.code size mismatch/);
      expect(accepted(stale.output)).not.toContain('main.js');
      expect(accepted(stale.output).filter((file) => file.startsWith('chunks/')).length).toBeGreaterThan(5);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
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
