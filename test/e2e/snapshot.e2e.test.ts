import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, SERVER_ARGS, SERVER_ENTRY, SERVER_SNAPSHOT, startBrokerProcess, type BrokerProcess } from '../../sandbox/broker-process';
import { mintAt, startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

/**
 * The server `npm start`, the container and every e2e test run: dist/server/main.cjs
 * evaluated at build time into a V8 startup snapshot (scripts/bundle-snapshot.mjs). What
 * must hold: the snapshot starts and mints; nothing of the build (environment, paths,
 * randomness, config) survives into a process; main.cjs and main.mjs still run alone.
 */
const ESM_ENTRY = join(REPO_ROOT, 'dist/server/main.mjs');
const PACKAGE_VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const CONFIG = (idp: string) => `brokerIdp:
  clientId: voidkey-broker
  clientSecret: \${BROKER_CLIENT_SECRET}
  tokenEndpoint: http://127.0.0.1:9/token
  audience: voidkey-broker
clientIdps:
  - name: ${idp}
    issuer: https://token.actions.githubusercontent.com
    audience: https://voidkey.example.com
    jwksUri: https://token.actions.githubusercontent.com/.well-known/jwks
accessProviders:
  - name: aws-prod
    type: aws-sts
    region: us-east-1
clientIdentities:
  - name: app-main
    subject: repo:acme/app:ref:refs/heads/main
    idp: ${idp}
    claims: { repository_id: "123456" }
    keys:
      AWS_DEPLOY:
        provider: aws-prod
        roleArn: arn:aws:iam::111122223333:role/deploy
        outputs: { AWS_ACCESS_KEY_ID: AccessKeyId }
server:
  audit: { stdout: false }
`;
const ENV = { BROKER_CLIENT_SECRET: 'snapshot-test-not-a-secret' };

/**
 * A `--require` probe, run in the process before the server: at exit it writes what
 * node's module loader holds (files loaded as modules, built-ins loaded after the probe)
 * and two random draws made in the process.
 */
function probe(): { args: string[]; report: () => { files: string[]; builtins: string[]; random: number; uuid: string } } {
  const dir = mkdtempSync(join(tmpdir(), 'voidkey-snapshot-probe-'));
  const out = join(dir, 'report.json');
  const script = join(dir, 'probe.cjs');
  writeFileSync(
    script,
    `const before = new Set(process.moduleLoadList);
const random = Math.random();
const uuid = require('node:crypto').randomUUID();
process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({
  files: Object.keys(require.cache).filter((file) => file !== __filename),
  builtins: process.moduleLoadList.filter((name) => !before.has(name) && name.startsWith('NativeModule ')).map((name) => name.slice('NativeModule '.length)),
  random,
  uuid,
})));
`,
  );
  return { args: ['--require', script], report: () => JSON.parse(readFileSync(out, 'utf8')) };
}

async function health(broker: BrokerProcess, headers: Record<string, string> = {}): Promise<{ status: number; requestId: string | null; body: { version?: string } }> {
  const response = await fetch(`${broker.url}/health`, { headers });
  return { status: response.status, requestId: response.headers.get('x-request-id'), body: (await response.json()) as { version?: string } };
}

describe('the server started from its V8 startup snapshot', () => {
  it('the build wrote main.cjs, main.blob and the vendor bundles beside main.mjs', () => {
    for (const file of [SERVER_ENTRY, SERVER_SNAPSHOT, ESM_ENTRY, ...['aws', 'gcp', 'azure', 'cedar'].map((name) => join(REPO_ROOT, `dist/server/vendor/${name}.cjs`))]) {
      expect(existsSync(file)).toBe(true);
    }
    expect(SERVER_ARGS).toEqual(['--snapshot-blob', SERVER_SNAPSHOT, SERVER_ENTRY]);
  });

  it('while its modules load, the bundle reads two environment variables, the clock once and Math.random for NestJS ids only', () => {
    // `--help` returns before main() reads anything: what the probe sees is module
    // evaluation, which is what the snapshot freezes. The probe records calls made from the bundle.
    const dir = mkdtempSync(join(tmpdir(), 'voidkey-snapshot-load-'));
    const script = join(dir, 'probe.cjs');
    writeFileSync(
      script,
      `const seen = [];
// The caller of the trap or wrapper below (frames: Error, fromBundle, trap, caller).
const fromBundle = () => /main\\.cjs:/.test(new Error().stack.split('\\n')[3]);
const env = process.env;
process.env = new Proxy(env, {
  get: (target, key) => (typeof key === 'string' && fromBundle() && seen.push('env ' + key), target[key]),
  has: (target, key) => (typeof key === 'string' && fromBundle() && seen.push('env ' + key), key in target),
});
const wrap = (owner, name, label) => {
  const real = owner[name];
  owner[name] = function (...args) {
    if (fromBundle()) seen.push(label);
    return real.apply(this, args);
  };
};
const crypto = require('node:crypto');
wrap(Math, 'random', 'Math.random');
wrap(Date, 'now', 'Date.now');
for (const name of ['randomUUID', 'randomBytes', 'randomFillSync', 'randomInt', 'createSecretKey', 'createPrivateKey', 'createPublicKey']) wrap(crypto, name, 'crypto.' + name);
for (const name of ['setTimeout', 'setInterval', 'setImmediate']) wrap(globalThis, name, name);
wrap(process, 'on', 'process.on');
wrap(process.hrtime, 'bigint', 'process.hrtime.bigint');
process.on('exit', () => process.stderr.write('PROBE ' + JSON.stringify([...new Set(seen)].sort()) + '\\n'));
`,
    );
    const ran = spawnSync(process.execPath, ['--require', script, SERVER_ENTRY, '--help'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    expect(ran.status).toBe(0);
    expect(ran.stdout).toContain('usage: ');
    const seen = JSON.parse(/^PROBE (.*)$/m.exec(ran.stderr)![1]!) as string[];
    // NestJS's logger (off in the broker) reads NO_COLOR, semver reads NODE_DEBUG (pino's
    // thread-stream, which read NODE_V8_COVERAGE, now loads on first use); pino takes its base
    // for isoTimeNano (unused: the broker logs isoTime); NestJS's createParamDecorator names
    // each decorator's metadata key with Math.random (a key inside the process, the same in
    // every process from one snapshot). docs/performance.md.
    expect(seen).toEqual(['Date.now', 'Math.random', 'env NODE_DEBUG', 'env NO_COLOR', 'process.hrtime.bigint']);
  });

  it.each([
    ['the snapshot (npm start, the image, the e2e suite)', SERVER_ARGS],
    ['main.cjs without the snapshot', [SERVER_ENTRY]],
    ['main.mjs, the ES module bundle', [ESM_ENTRY]],
  ])('%s starts and serves /health', async (_name, node) => {
    const broker = await startBrokerProcess({ config: CONFIG('github-actions'), env: ENV, node });
    try {
      expect(await health(broker)).toMatchObject({ status: 200, body: { version: PACKAGE_VERSION } });
    } finally {
      expect(await broker.stop()).toBe(0);
    }
  });

  it('evaluates no bundle file at start: main.cjs is loaded as a module only without the snapshot, and node:tls not at all', async () => {
    // Positive control: the same probe on main.cjs run alone sees node load it.
    const plain = probe();
    const alone = await startBrokerProcess({ config: CONFIG('github-actions'), env: ENV, node: [...plain.args, SERVER_ENTRY] });
    expect((await health(alone)).status).toBe(200);
    await alone.stop();
    expect(plain.report().files).toContain(SERVER_ENTRY);

    const snap = probe();
    const broker = await startBrokerProcess({ config: CONFIG('github-actions'), env: ENV, node: [...snap.args, ...SERVER_ARGS] });
    expect((await health(broker)).status).toBe(200);
    await broker.stop();
    const report = snap.report();
    expect(report.files).toEqual([]);
    // node:http loads at run time (it cannot be in a snapshot); https and tls wait for an https upstream.
    expect(report.builtins).toContain('http');
    expect(report.builtins).not.toContain('tls');
    expect(report.builtins).not.toContain('https');
  });

  describe('in the sandbox', () => {
    let sandbox: Sandbox;
    beforeAll(async () => {
      sandbox = await startSandbox();
    });
    afterAll(async () => {
      await sandbox?.close();
    });

    it('mints, loading the provider SDK from its vendor bundle on the first mint only', async () => {
      const token = await sandbox.github.githubToken({ repository_id: '123456789' });
      const idle = probe();
      const first = await startBrokerProcess({ config: sandbox.config, env: { BROKER_CLIENT_SECRET: sandbox.clientSecret }, node: [...idle.args, ...SERVER_ARGS] });
      expect((await health(first)).status).toBe(200);
      await first.stop();
      expect(idle.report().files).toEqual([]);

      const minting = probe();
      const broker = await startBrokerProcess({ config: sandbox.config, env: { BROKER_CLIENT_SECRET: sandbox.clientSecret }, node: [...minting.args, ...SERVER_ARGS] });
      const answer = await mintAt<Record<string, { credentials: Record<string, string> }>>(broker.url, token, ['AWS_DEPLOY']);
      expect(answer.status).toBe(200);
      expect(answer.body.AWS_DEPLOY!.credentials.AWS_ACCESS_KEY_ID).toMatch(/^ASIA/);
      await broker.stop();
      expect(minting.report().files).toEqual([join(REPO_ROOT, 'dist/server/vendor/aws.cjs')]);
    });

    it('runs from wherever the bundle is at run time: a copy in another folder finds its package.json and vendor bundles there', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'voidkey-snapshot-moved-'));
      for (const name of ['main.cjs', 'main.blob', 'vendor']) cpSync(join(REPO_ROOT, 'dist/server', name), join(dir, 'server', name), { recursive: true });
      // packageVersion() looks in the bundle's folder and its parents.
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ version: '9.9.9-moved' }));
      // Positive control: the built snapshot in place reports the repository's version.
      const inPlace = await startBrokerProcess({ config: sandbox.config, env: { BROKER_CLIENT_SECRET: sandbox.clientSecret } });
      expect((await health(inPlace)).body.version).toBe(PACKAGE_VERSION);
      await inPlace.stop();

      const moved = probe();
      const broker = await startBrokerProcess({
        config: sandbox.config,
        env: { BROKER_CLIENT_SECRET: sandbox.clientSecret },
        node: [...moved.args, '--snapshot-blob', join(dir, 'server/main.blob'), join(dir, 'server/main.cjs')],
      });
      expect((await health(broker)).body.version).toBe('9.9.9-moved');
      const answer = await mintAt(broker.url, await sandbox.github.githubToken({ repository_id: '123456789' }), ['AWS_DEPLOY']);
      expect(answer.status).toBe(200);
      await broker.stop();
      expect(moved.report().files).toEqual([join(dir, 'server/vendor/aws.cjs')]);
    });
  });

  it('two processes from one snapshot draw different randomness: request ids, Math.random, randomUUID', async () => {
    const probes = [probe(), probe()];
    const brokers = await Promise.all(probes.map((p) => startBrokerProcess({ config: CONFIG('github-actions'), env: ENV, node: [...p.args, ...SERVER_ARGS] })));
    try {
      // Positive control: a sane x-request-id is echoed, so the id below is the broker's own.
      expect((await health(brokers[0]!, { 'x-request-id': 'caller-chosen-id-1' })).requestId).toBe('caller-chosen-id-1');
      const ids = await Promise.all(brokers.map(async (broker) => (await health(broker)).requestId));
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(ids[0]).not.toBe(ids[1]);
    } finally {
      await Promise.all(brokers.map((broker) => broker.stop()));
    }
    const [a, b] = probes.map((p) => p.report());
    expect(a!.random).not.toBe(b!.random);
    expect(a!.uuid).not.toBe(b!.uuid);
  });

  it('reads LOG_LEVEL, the config file and its ${VAR}s when it runs, not when the snapshot was built', async () => {
    const info = await startBrokerProcess({ config: CONFIG('alpha-idp'), env: { ...ENV, LOG_LEVEL: 'info' } });
    const warn = await startBrokerProcess({ config: CONFIG('beta-idp'), env: { ...ENV, LOG_LEVEL: 'warn' } });
    try {
      for (const broker of [info, warn]) expect((await health(broker)).status).toBe(200);
      expect(await (await fetch(`${info.url}/credentials/idp-providers`)).json()).toEqual([{ name: 'alpha-idp', isDefault: false }]);
      expect(await (await fetch(`${warn.url}/credentials/idp-providers`)).json()).toEqual([{ name: 'beta-idp', isDefault: false }]);
    } finally {
      await Promise.all([info.stop(), warn.stop()]);
    }
    // info logs every request; warn only the lifecycle lines, which print at any level.
    expect(info.logLines().filter((line) => line.msg === 'request')).toHaveLength(2);
    expect(warn.logLines().filter((line) => line.msg === 'request')).toHaveLength(0);
    expect(warn.logLines().some((line) => line.msg === 'voidkey broker listening')).toBe(true);

    // The config's ${BROKER_CLIENT_SECRET} comes from the process's environment: without it the config is refused.
    const missing = await startBrokerProcess({ config: CONFIG('gamma-idp'), env: {} }).then(
      () => 'started',
      (err: Error) => err.message,
    );
    expect(missing).toMatch(/exited with code 2 before listening/);
    expect(missing).toContain('BROKER_CLIENT_SECRET');
    // The snapshot's build-time warm-up config never shows.
    expect(missing).not.toContain('snapshot-warm-up');
  });
});
