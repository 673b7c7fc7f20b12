import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, SERVER_ARGS, startBrokerProcess, type BrokerProcess } from '../../sandbox/broker-process';
import { startLocalIdp, type LocalIdp } from '../../sandbox/local-idp';
import { startStsEmulator, type StsEmulator } from '../../sandbox/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';
import { mintAt } from './sandbox';

jest.setTimeout(60_000);

/** Voidkey's own config files, committed unchanged (see test/fixtures/voidkey/README.md). */
const FIXTURES = join(__dirname, '../fixtures/voidkey');
const EXAMPLE = readFileSync(join(FIXTURES, 'example-config.yaml'), 'utf8');
const SANDBOX = readFileSync(join(FIXTURES, 'sandbox-config.yaml'), 'utf8');
const UPSTREAM_SECRET = 'broker-secret-12345';
const CLIENT_SUBJECT = 'b8c84bed-a860-4945-9adf-2f094eb9c324';

function folderWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'voidkey-config-dir-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function metricsOf(broker: BrokerProcess): Promise<string> {
  return (await fetch(`${broker.url}/metrics`)).text();
}

describe('voidkey config validate on Voidkey configs', () => {
  it.each(['example-config.yaml', 'sandbox-config.yaml'])('%s, unchanged: exit 0, with its warnings', async (file) => {
    const result = await runCli(['config', 'validate', join(FIXTURES, file)]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/: warning: brokerIdp\.clientSecret: is written inline/);
    expect(result.stdout).toMatch(/: warning: brokerIdp\.issuer: plain http to a loopback host/);
    expect(result.stdout).toMatch(new RegExp(`${file}: ok \\(\\d+ warnings\\)\\n$`));
    expect(result.stdout).not.toContain(UPSTREAM_SECRET);
  });

  it('with --strict the same warnings fail (exit 7): they are real findings', async () => {
    expect((await runCli(['config', 'validate', '--strict', join(FIXTURES, 'sandbox-config.yaml')])).code).toBe(7);
  });

  it('takes a folder holding one YAML file as CONFIG_DIR does, and refuses a folder holding several', async () => {
    const one = folderWith({ 'config.yaml': SANDBOX, 'README.md': 'not a config' });
    const result = await runCli(['config', 'validate', one]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${join(one, 'config.yaml')}: ok (`);
    const two = folderWith({ 'config.yaml': SANDBOX, 'example.yml': EXAMPLE });
    const refused = await runCli(['config', 'validate', two]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${two} holds 2 YAML files (config.yaml, example.yml): the broker reads one config and never merges files`);
  });
});

describe('the broker serves Voidkey configs', () => {
  it.each([
    ['example-config.yaml', EXAMPLE],
    ['sandbox-config.yaml', SANDBOX],
  ])('%s, unchanged: starts, logs each warning, counts them on /metrics, answers /health', async (_file, text) => {
    const broker = await startBrokerProcess({ config: text });
    try {
      expect((await fetch(`${broker.url}/health`)).status).toBe(200);
      const warnings = broker.logLines().filter((line) => line.msg === 'config warning');
      expect(warnings.length).toBeGreaterThan(5);
      expect(warnings.map((line) => line.code)).toEqual(expect.arrayContaining(['http_loopback', 'inline_secret']));
      const metrics = await metricsOf(broker);
      const loopback = warnings.filter((line) => line.code === 'http_loopback').length;
      expect(metrics).toContain(`voidkey_config_warnings{code="http_loopback"} ${loopback}`);
      expect(metrics).toContain('voidkey_config_warnings{code="inline_secret"} 1');
      expect(metrics).toContain('voidkey_config_warnings{code="any_audience"} 0');
      // Labels are codes, never config values; the inline secret appears nowhere.
      expect(metrics).not.toMatch(/voidkey_config_warnings\{[^}]*(localhost|client-policy)/);
      expect(broker.output()).not.toContain(UPSTREAM_SECRET);
    } finally {
      await broker.stop();
    }
  });

  it('reads CONFIG_DIR (a folder holding one YAML file) as --config', async () => {
    const broker = await startBrokerProcess({ config: SANDBOX, configDir: true });
    try {
      expect((await fetch(`${broker.url}/health`)).status).toBe(200);
      expect(broker.logLines().find((line) => line.msg === 'voidkey broker listening')?.config).toMatch(/voidkey-broker-/);
    } finally {
      await broker.stop();
    }
  });

  it('refuses a CONFIG_DIR holding several YAML files, and VOIDKEY_CONFIG beside a different CONFIG_DIR', () => {
    const two = folderWith({ 'a.yaml': SANDBOX, 'b.yaml': SANDBOX });
    const several = spawnSync(process.execPath, [...SERVER_ARGS, '--port', '0'], { env: { PATH: process.env.PATH ?? '', CONFIG_DIR: two }, encoding: 'utf8', timeout: 20_000 });
    expect(several.status).toBe(2);
    expect(several.stderr).toContain(`cannot start: ${two} holds 2 YAML files (a.yaml, b.yaml): the broker reads one config and never merges files`);
    const one = folderWith({ 'config.yaml': SANDBOX });
    const both = spawnSync(process.execPath, [...SERVER_ARGS, '--port', '0'], { env: { PATH: process.env.PATH ?? '', CONFIG_DIR: one, VOIDKEY_CONFIG: join(two, 'a.yaml') }, encoding: 'utf8', timeout: 20_000 });
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('VOIDKEY_CONFIG and CONFIG_DIR name different configs: set one of them');
  });
});

/**
 * Voidkey's sandbox-config.yaml with only its URLs pointed at this sandbox's loopback ports
 * (Keycloak's two realms → a token issuer and oidc-provider; MinIO → the MinIO emulator,
 * claim-based as Voidkey's sandbox is). Everything else is the file as published,
 * its inline client secret included.
 */
describe("a real mint through Voidkey's sandbox-config.yaml", () => {
  let client: TokenIssuer;
  let brokerIdp: LocalIdp;
  let minio: StsEmulator;
  let broker: BrokerProcess;
  let text: string;

  beforeAll(async () => {
    client = await startTokenIssuer({ audience: 'voidkey-broker', issuerPath: '/realms/client' });
    brokerIdp = await startLocalIdp({ clients: [{ clientId: 'broker-service', clientSecret: UPSTREAM_SECRET, claims: { policy: 'client-policy' } }] });
    minio = await startStsEmulator({ flavor: 'minio', trust: { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: 'voidkey-broker' } });
    text = SANDBOX.replaceAll('http://localhost:8080/realms/broker/protocol/openid-connect/token', brokerIdp.tokenEndpoint)
      .replaceAll('http://localhost:8080/realms/broker/protocol/openid-connect/certs', brokerIdp.jwksUri)
      .replaceAll('http://localhost:8080/realms/broker', brokerIdp.issuer)
      .replaceAll('http://localhost:8080/realms/client/protocol/openid-connect/certs', client.jwksUri)
      .replaceAll('http://localhost:8080/realms/client', client.issuer)
      .replaceAll('http://localhost:9000', minio.url);
    expect(text).not.toContain('localhost');
    broker = await startBrokerProcess({ config: text });
  });
  afterAll(async () => {
    await broker?.stop();
    await Promise.all([client?.close(), brokerIdp?.close(), minio?.close()]);
  });

  it('mints MINIO_CREDENTIALS for the configured subject; the policy name is not sent, MinIO applies the token claim policy', async () => {
    const answer = await mintAt<Record<string, { credentials: Record<string, string> }>>(broker.url, await client.sign({ sub: CLIENT_SUBJECT }), ['MINIO_CREDENTIALS']);
    expect(answer.status).toBe(200);
    const credentials = answer.body.MINIO_CREDENTIALS!.credentials;
    expect(credentials.MINIO_ACCESS_KEY_ID).toBe(minio.issued.at(-1)!.accessKeyId);
    expect(credentials.MINIO_ENDPOINT).toBe(minio.url);
    const request = minio.requests.at(-1)!;
    expect(request.params.RoleArn).toBeUndefined();
    expect(request.params.Policy).toBeUndefined();
    expect(request.params.DurationSeconds).toBe('1800');
  });

  it('validateAudience: false does not weaken the check: a token for another audience is refused (401)', async () => {
    // positive control on the same broker and issuer: the configured audience mints
    expect((await mintAt(broker.url, await client.sign({ sub: CLIENT_SUBJECT }), ['MINIO_ADMIN_CREDENTIALS'])).status).toBe(200);
    const before = minio.calls;
    const answer = await mintAt(broker.url, await client.sign({ sub: CLIENT_SUBJECT, aud: 'another-service' }), ['MINIO_ADMIN_CREDENTIALS']);
    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe('audience_mismatch');
    expect(minio.calls).toBe(before);
  });

  it("brokerAuth.jwksUri is honoured: a broker token that does not verify against it never reaches MinIO (502)", async () => {
    // the tests above are the positive control: the same file, its jwksUri naming the broker IdP's keys
    const elsewhere = text.replace(/(brokerAuth:[\s\S]*?jwksUri: ")[^"]+/, `$1${client.jwksUri}`);
    expect(elsewhere).not.toBe(text);
    const other = await startBrokerProcess({ config: elsewhere });
    try {
      const before = minio.calls;
      const answer = await mintAt(other.url, await client.sign({ sub: CLIENT_SUBJECT }), ['MINIO_CREDENTIALS']);
      expect(answer.status).toBe(502);
      expect(answer.body.error).toBe('broker_auth_failed');
      expect(minio.calls).toBe(before);
    } finally {
      await other.stop();
    }
  });
});
