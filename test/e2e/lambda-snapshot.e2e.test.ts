import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { httpApiEvent, restApiEvent } from '../support/api-gateway-events';
import { REPO_ROOT } from '../../sandbox/broker-process';
import { startLambdaRuntimeEmulator, type InvocationOutcome, type LambdaRuntimeEmulator } from '../../sandbox/lambda-runtime-emulator';
import { startLocalIdp, type LocalIdp } from '../../sandbox/local-idp';
import { BROKER_AUDIENCE, MINIO_ROLE, ROLE_READONLY, sandboxConfigText } from '../../sandbox/sandbox-config';
import { startStsEmulator, type StsEmulator } from '../../sandbox/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';

jest.setTimeout(120_000);

/**
 * The Lambda custom runtime (provided.al2023) built by scripts/bundle-lambda-snapshot.mjs:
 * its real `bootstrap` runs the shipped node on main.blob, with AWS_LAMBDA_RUNTIME_API
 * pointing at the sandbox's Runtime API emulator, as Lambda runs it.
 */
interface Runtime {
  readonly emulator: LambdaRuntimeEmulator;
  readonly child: ChildProcess;
  output(): string;
  logLines(): Array<Record<string, unknown>>;
  /** Stops the process; its output is complete once this resolves (read logs after it). */
  stop(): Promise<void>;
}

interface Answer {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

function answerOf(outcome: InvocationOutcome): Answer {
  expect(outcome.kind).toBe('response');
  return JSON.parse((outcome as { body: string }).body) as Answer;
}

describe('the Lambda custom runtime started from its snapshot (dist/lambda-snapshot/bootstrap)', () => {
  let dir: string;
  let github: TokenIssuer;
  let brokerIdp: LocalIdp;
  let aws: StsEmulator;
  let minio: StsEmulator;
  let config: string;
  const clientSecret = `canary-client-secret-${randomBytes(12).toString('hex')}`;
  // The ambient provider's own AWS credentials (the emulator checks the signature's shape, not the key).
  const ambientSecret = `canary-ambient-${randomBytes(12).toString('hex')}`;
  const running: Runtime[] = [];

  async function startRuntime(env: Record<string, string>): Promise<Runtime> {
    const emulator = await startLambdaRuntimeEmulator();
    const child = spawn(join(dir, 'bootstrap'), [], {
      env: { PATH: process.env.PATH ?? '', AWS_LAMBDA_RUNTIME_API: emulator.address, AWS_LAMBDA_FUNCTION_NAME: 'voidkey-broker', AWS_REGION: 'us-east-1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    // 'close': the process exited and its output pipes are drained, so every line it wrote is in `output`.
    const exited = new Promise<void>((done) => child.once('close', () => done()));
    const runtime: Runtime = {
      emulator,
      child,
      output: () => output,
      logLines: () =>
        output
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
        await emulator.close();
      },
    };
    running.push(runtime);
    return runtime;
  }

  const configEnv = () => ({ VOIDKEY_CONFIG_YAML: config, BROKER_CLIENT_SECRET: clientSecret, AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: ambientSecret });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'voidkey-lambda-snapshot-e2e-'));
    // The script also smoke-tests the package through the emulator.
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'scripts/bundle-lambda-snapshot.mjs'), '--out', dir], { cwd: REPO_ROOT });
    github = await startTokenIssuer({ audience: 'https://broker.example.com' });
    brokerIdp = await startLocalIdp({ clients: [{ clientId: 'voidkey-broker', clientSecret }] });
    const trust = { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: BROKER_AUDIENCE };
    aws = await startStsEmulator({ flavor: 'aws', trust, maxSessionDuration: 3600 });
    minio = await startStsEmulator({ flavor: 'minio', trust, minioRoleArn: MINIO_ROLE });
    // The sandbox config plus an ambient provider: its AssumeRole goes through the AWS SDK, which sends the invocation's trace id.
    config = sandboxConfigText({ github, brokerIdp, aws, minio })
      .replace('accessProviders:\n', `accessProviders:\n  - name: aws-ambient\n    type: aws-sts\n    auth: ambient\n    endpoint: ${aws.url}\n    region: us-east-1\n`)
      .replace(
        '      ARTIFACTS:\n',
        `      AWS_AMBIENT:\n        provider: aws-ambient\n        roleArn: ${ROLE_READONLY}\n        outputs:\n          AWS_ACCESS_KEY_ID: AccessKeyId\n      ARTIFACTS:\n`,
      );
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((runtime) => runtime.stop()));
  });
  afterAll(async () => {
    await Promise.all([github?.close(), brokerIdp?.close(), aws?.close(), minio?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is a bootstrap, the node that built main.blob, main.cjs, main.blob and vendor/; no node_modules', () => {
    expect(statSync(join(dir, 'bootstrap')).mode & 0o111).not.toBe(0);
    expect(readFileSync(join(dir, 'bootstrap'), 'utf8')).toContain('exec "$root/node" $heap --snapshot-blob "$root/main.blob" "$root/main.cjs"');
    const shipped = spawnSync(join(dir, 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim();
    const repo = spawnSync(join(REPO_ROOT, 'node_modules/node/bin/node'), ['--version'], { encoding: 'utf8' }).stdout.trim();
    expect(shipped).toBe(repo);
    for (const file of ['main.cjs', 'main.blob', 'package.json', 'vendor/aws.cjs', 'vendor/cedar_wasm_bg.wasm']) expect(existsSync(join(dir, file))).toBe(true);
    expect(existsSync(join(dir, 'node_modules'))).toBe(false);
  });

  it('one process answers /health, a real mint, a v1 mint and an ambient mint in turn: request ids and trace ids per invocation', async () => {
    const runtime = await startRuntime({ ...configEnv(), AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512' });
    const token = await github.githubToken({ repository_id: '123456789' });
    const health = answerOf(await runtime.emulator.invoke({ event: httpApiEvent({ method: 'GET', path: '/health' }), requestId: 'lambda-request-0001' }));
    expect(health).toMatchObject({ statusCode: 200, headers: { 'x-request-id': 'lambda-request-0001' } });
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', version: expect.any(String) });

    const mint = answerOf(
      await runtime.emulator.invoke({
        event: httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"keys":["AWS_DEPLOY"]}' }),
        requestId: 'lambda-request-0002',
      }),
    );
    expect(mint.statusCode).toBe(200);
    const issued = aws.issued.at(-1)!;
    expect(JSON.parse(mint.body).AWS_DEPLOY.credentials).toMatchObject({ AWS_ACCESS_KEY_ID: issued.accessKeyId, AWS_SECRET_ACCESS_KEY: issued.secretAccessKey, AWS_SESSION_TOKEN: issued.sessionToken });

    const v1 = answerOf(
      await runtime.emulator.invoke({ event: restApiEvent({ method: 'POST', path: '/credentials/mint', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ oidcToken: token, keys: ['ARTIFACTS'] }) }) }),
    );
    expect(v1.statusCode).toBe(200);
    expect(JSON.parse(v1.body).ARTIFACTS.credentials.MINIO_ACCESS_KEY).toBe(minio.issued.at(-1)!.accessKeyId);

    // Two ambient mints under two trace ids: the SDK's X-Amzn-Trace-Id is each invocation's own.
    const traces = ['Root=1-67a1b2c3-0123456789abcdef01234567;Parent=1111111111111111;Sampled=1', 'Root=1-67a1b2c4-fedcba9876543210fedcba98;Parent=2222222222222222;Sampled=0'];
    for (const traceId of traces) {
      const ambient = answerOf(
        await runtime.emulator.invoke({
          event: httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"keys":["AWS_AMBIENT"]}' }),
          traceId,
        }),
      );
      expect(ambient.statusCode).toBe(200);
      const request = aws.requests.at(-1)!;
      expect({ action: request.action, signed: request.signed, trace: request.headers['x-amzn-trace-id'] }).toEqual({ action: 'AssumeRole', signed: true, trace: traceId });
    }

    // bootstrap exec'd the shipped node on the blob, its old generation sized to the function's memory (85 %).
    expect(readFileSync(`/proc/${runtime.child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean)).toEqual([
      join(dir, 'node'),
      '--max-old-space-size=435',
      '--snapshot-blob',
      join(dir, 'main.blob'),
      join(dir, 'main.cjs'),
    ]);
    // One process took every invocation and answered each once.
    expect(runtime.child.exitCode).toBeNull();
    expect(runtime.emulator.received.filter((request) => request.method === 'POST').map((request) => request.path.replace(/invocation\/[^/]+\//, 'invocation/ID/'))).toEqual(
      Array.from({ length: 5 }, () => '/2018-06-01/runtime/invocation/ID/response'),
    );
    await runtime.stop();
    const lines = runtime.logLines();
    expect(lines.filter((line) => line.msg === 'request').map((line) => line.requestId)).toEqual(expect.arrayContaining(['lambda-request-0001', 'lambda-request-0002']));
    expect(lines.filter((line) => line.msg === 'voidkey broker ready (lambda)')).toHaveLength(1);
    expect(runtime.emulator.initErrors).toEqual([]);
    for (const secret of [token, clientSecret, ambientSecret, issued.secretAccessKey, issued.sessionToken]) expect(runtime.output()).not.toContain(secret);
  });

  it('a malformed event: no API Gateway event → 400 request_invalid; a body that is not text → 400 request_invalid; not JSON → /error Runtime.MalformedEvent; no secret anywhere; the process goes on', async () => {
    const runtime = await startRuntime(configEnv());
    // Positive control: the same process answers a well-formed event.
    expect(answerOf(await runtime.emulator.invoke({ event: httpApiEvent({ method: 'GET', path: '/health' }) })).statusCode).toBe(200);

    const canary = `canary-token-${randomBytes(12).toString('hex')}`;
    const notGateway = answerOf(await runtime.emulator.invoke({ event: { hello: canary }, requestId: 'lambda-request-0400' }));
    expect(notGateway.statusCode).toBe(400);
    expect(JSON.parse(notGateway.body)).toEqual({ error: 'request_invalid', code: 'ERR_REQUEST_INVALID', message: 'the function expects API Gateway proxy events', requestId: 'lambda-request-0400' });

    const notJson = await runtime.emulator.invoke({ raw: `{"oidcToken":"${canary}` });
    expect(notJson).toMatchObject({ kind: 'error', errorType: 'Runtime.MalformedEvent' });
    expect(JSON.parse((notJson as { body: string }).body)).toEqual({ errorType: 'Runtime.MalformedEvent', errorMessage: 'the invocation event is not JSON', stackTrace: [] });

    // An HTTP API event whose body is an object, not a string (only a direct invoke sends one).
    // (A handler that throws goes to /error with its errorType: test/integration/lambda-runtime-loop.test.ts.)
    const objectBody = answerOf(await runtime.emulator.invoke({ event: { ...httpApiEvent({ method: 'POST', path: '/credentials/mint' }), body: { oidcToken: canary } }, requestId: 'lambda-request-0401' }));
    expect(objectBody.statusCode).toBe(400);
    expect(JSON.parse(objectBody.body)).toEqual({ error: 'request_invalid', code: 'ERR_REQUEST_INVALID', message: "the event's body is not a string (API Gateway sends text, base64 when binary)", requestId: 'lambda-request-0401' });

    expect(answerOf(await runtime.emulator.invoke({ event: httpApiEvent({ method: 'GET', path: '/health' }) })).statusCode).toBe(200);
    await runtime.stop();
    expect(runtime.output()).not.toContain(canary);
    expect(runtime.emulator.received.filter((request) => request.method === 'POST').map((request) => request.body).join('\n')).not.toContain(canary);
  });

  it('a bad config (and a bad LOG_LEVEL): the runtime initialises, logs the problems once and answers 503 config_invalid, as the managed runtime does', async () => {
    // Positive control: the same config unbroken serves.
    const fine = await startRuntime(configEnv());
    expect(answerOf(await fine.emulator.invoke({ event: httpApiEvent({ method: 'GET', path: '/health' }) })).statusCode).toBe(200);

    const broken = await startRuntime({ ...configEnv(), VOIDKEY_CONFIG_YAML: config.replace('clientIdps:', 'clientIdpz:'), LOG_LEVEL: 'verbose' });
    const answers = [
      answerOf(await broken.emulator.invoke({ event: httpApiEvent({ method: 'GET', path: '/health' }) })),
      answerOf(await broken.emulator.invoke({ event: restApiEvent({ method: 'GET', path: '/credentials/idp-providers' }) })),
    ];
    expect(answers.map((answer) => [answer.statusCode, JSON.parse(answer.body).error])).toEqual([
      [503, 'config_invalid'],
      [503, 'config_invalid'],
    ]);
    expect(broken.emulator.initErrors).toEqual([]);
    await broken.stop();
    expect(broken.output()).toContain('unknown LOG_LEVEL: logging at info');
    const logged = broken.output().split('\n').filter((line) => line.includes('config invalid'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/VOIDKEY_CONFIG_YAML:\d+:\d+: /);
    expect(broken.output()).not.toContain(clientSecret);
  });

  it('evaluates no file at start: /health loads no module file and no TLS; the first AWS mint loads vendor/aws.cjs only', async () => {
    /** A preload (NODE_OPTIONS reaches the node that bootstrap execs) that reports, on SIGTERM, the files node loaded as modules and the built-ins loaded after it. */
    const probeDir = mkdtempSync(join(tmpdir(), 'voidkey-lambda-snapshot-probe-'));
    const probe = (name: string) => {
      const out = join(probeDir, `${name}.json`);
      const script = join(probeDir, `${name}.cjs`);
      writeFileSync(
        script,
        `const before = new Set(process.moduleLoadList);
process.on('SIGTERM', () => {
  require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({
    files: Object.keys(require.cache).filter((file) => file !== __filename),
    builtins: process.moduleLoadList.filter((name) => !before.has(name) && name.startsWith('NativeModule ')).map((name) => name.slice('NativeModule '.length)),
  }));
  process.exit(0);
});
`,
      );
      return { env: { NODE_OPTIONS: `--require ${script}` }, report: () => JSON.parse(readFileSync(out, 'utf8')) as { files: string[]; builtins: string[] } };
    };
    try {
      const token = await github.githubToken({ repository_id: '123456789' });
      const mintEvent = (key: string) => httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ keys: [key] }) });
      const idle = probe('idle');
      const started = await startRuntime({ ...configEnv(), ...idle.env });
      expect(answerOf(await started.emulator.invoke({ event: httpApiEvent({ method: 'GET', path: '/health' }) })).statusCode).toBe(200);
      await started.stop();
      const atStart = idle.report();
      expect(atStart.files).toEqual([]);
      // node:http loads at run time (it cannot be in a snapshot); https and tls wait for an https upstream.
      expect(atStart.builtins).toContain('http');
      expect(atStart.builtins.filter((name) => ['tls', 'https', 'http2'].includes(name))).toEqual([]);

      const minting = probe('minting');
      const mint = await startRuntime({ ...configEnv(), ...minting.env });
      expect(answerOf(await mint.emulator.invoke({ event: mintEvent('AWS_DEPLOY') })).statusCode).toBe(200);
      await mint.stop();
      expect(minting.report().files).toEqual([join(dir, 'vendor/aws.cjs')]);
    } finally {
      rmSync(probeDir, { recursive: true, force: true });
    }
  });

  it('outside Lambda (no AWS_LAMBDA_RUNTIME_API) it says so and exits 1', async () => {
    const ran = spawnSync(join(dir, 'bootstrap'), [], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
    expect(ran.status).toBe(1);
    expect(ran.stderr).toContain('AWS_LAMBDA_RUNTIME_API is not host:port: this is a Lambda custom runtime');
  });

  it('two processes from one snapshot draw fresh randomness: the request ids they make up differ', async () => {
    const [a, b] = await Promise.all([startRuntime(configEnv()), startRuntime(configEnv())]);
    // Positive control: a sane caller id is echoed, so an id below is the broker's own.
    const echoed = answerOf(await a.emulator.invoke({ event: httpApiEvent({ method: 'GET', path: '/health', headers: { 'x-request-id': 'caller-chosen-id-1' } }) }));
    expect(echoed.headers['x-request-id']).toBe('caller-chosen-id-1');
    // A caller id too short to be sane is replaced by a random UUID drawn in the process.
    const ids = await Promise.all(
      [a, b].map(async (runtime) => answerOf(await runtime.emulator.invoke({ event: httpApiEvent({ method: 'GET', path: '/health', headers: { 'x-request-id': 'short' } }) })).headers['x-request-id']),
    );
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ids[0]).not.toBe(ids[1]);
  });
});
