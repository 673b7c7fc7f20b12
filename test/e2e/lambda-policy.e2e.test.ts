import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { httpApiEvent } from '../support/api-gateway-events';
import { REPO_ROOT } from '../../sandbox/broker-process';
import { startLocalIdp, type LocalIdp } from '../../sandbox/local-idp';
import { BROKER_AUDIENCE, MINIO_ROLE, sandboxConfigText } from '../../sandbox/sandbox-config';
import { startStsEmulator, type StsEmulator } from '../../sandbox/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';

jest.setTimeout(120_000);

/**
 * A Lambda function with a `policy:` section, end to end through the real bundle loaded the
 * way the nodejs24.x runtime loads it, from a folder with no node_modules: cedar-wasm's
 * module must sit beside the chunk that reads it, and `--config` ships the policy files the
 * config names. Every deny has its allow first, on the same function and fixture.
 */
const NO_ARTIFACTS_FOR_DEPENDABOT = `@id("no-artifacts-for-dependabot")
forbid (principal, action, resource == Voidkey::Key::"ARTIFACTS")
when { principal.hasTag("actor") && principal.getTag("actor") == "dependabot[bot]" };
`;

/** Invokes `handler` once per event, in order, in one fresh process (one container). */
const INVOKER = `import { readFileSync, writeFileSync } from 'node:fs';
const [bundle, eventsFile, resultsFile] = process.argv.slice(1);
const { handler } = await import(bundle);
const results = [];
for (const [index, event] of JSON.parse(readFileSync(eventsFile, 'utf8')).entries()) {
  results.push(await handler(event, { awsRequestId: 'policy-invocation-' + index }));
}
writeFileSync(resultsFile, JSON.stringify(results));
process.exit(0);
`;

interface Invocation {
  readonly statusCode: number;
  readonly body: string;
}

describe('the Lambda bundle with a policy section', () => {
  let build: string;
  let deployed: string;
  let github: TokenIssuer;
  let brokerIdp: LocalIdp;
  let aws: StsEmulator;
  let minio: StsEmulator;
  const clientSecret = `canary-client-secret-${randomBytes(12).toString('hex')}`;

  async function invoke(events: APIGatewayProxyEventV2[], env: Record<string, string>): Promise<{ results: Invocation[]; output: string }> {
    const eventsFile = join(build, `events-${randomBytes(4).toString('hex')}.json`);
    const resultsFile = `${eventsFile}.results`;
    writeFileSync(eventsFile, JSON.stringify(events));
    const child = spawn(process.execPath, ['--input-type=module', '-e', INVOKER, join(deployed, 'index.js'), eventsFile, resultsFile], {
      // Lambda's working directory is the function's folder.
      cwd: deployed,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });
    return { results: JSON.parse(readFileSync(resultsFile, 'utf8')) as Invocation[], output };
  }

  const mint = (token: string, keys: string[]) =>
    httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ keys }) });

  beforeAll(async () => {
    build = mkdtempSync(join(tmpdir(), 'voidkey-lambda-policy-'));
    github = await startTokenIssuer({ audience: 'https://broker.example.com' });
    brokerIdp = await startLocalIdp({ clients: [{ clientId: 'voidkey-broker', clientSecret }] });
    const trust = { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: BROKER_AUDIENCE };
    aws = await startStsEmulator({ flavor: 'aws', trust, maxSessionDuration: 3600 });
    minio = await startStsEmulator({ flavor: 'minio', trust, minioRoleArn: MINIO_ROLE });
    // The config and its policy folder, relative to the config, as a deployment keeps them.
    const source = join(build, 'source');
    mkdirSync(join(source, 'policies'), { recursive: true });
    writeFileSync(join(source, 'policies', 'active.cedar'), NO_ARTIFACTS_FOR_DEPENDABOT);
    const config = sandboxConfigText({ github, brokerIdp, aws, minio }).replace('clientIdentities:', 'policy:\n  active: policies/\nclientIdentities:');
    writeFileSync(join(source, 'config.yaml'), config);
    const out = join(build, 'bundle');
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'scripts/bundle-lambda.mjs'), '--out', out, '--config', join(source, 'config.yaml')], { cwd: REPO_ROOT });
    // Deployed: the bundle folder alone, away from the repository and its node_modules.
    deployed = join(build, 'task');
    cpSync(out, deployed, { recursive: true });
  });
  afterAll(async () => {
    await Promise.all([github?.close(), brokerIdp?.close(), aws?.close(), minio?.close()]);
    if (build) rmSync(build, { recursive: true, force: true });
  });

  it('ships the config\'s policy files beside config.yaml and no node_modules', () => {
    expect(readFileSync(join(deployed, 'policies', 'active.cedar'), 'utf8')).toBe(NO_ARTIFACTS_FOR_DEPENDABOT);
    expect(existsSync(join(deployed, 'node_modules'))).toBe(false);
  });

  it('mints what the policy allows and answers 403 policy_denied for what it denies, audited with the decision', async () => {
    const person = await github.githubToken({ repository_id: '123456789', actor: 'octocat' });
    const dependabot = await github.githubToken({ repository_id: '123456789', actor: 'dependabot[bot]' });
    const issuedBefore = minio.issued.length;
    const { results, output } = await invoke(
      [mint(person, ['ARTIFACTS']), mint(dependabot, ['AWS_DEPLOY']), mint(dependabot, ['ARTIFACTS']), mint(dependabot, ['AWS_DEPLOY', 'ARTIFACTS']), mint(person, ['ARTIFACTS'])],
      { VOIDKEY_CONFIG: join(deployed, 'config.yaml'), BROKER_CLIENT_SECRET: clientSecret },
    );
    const [personArtifacts, dependabotDeploy, dependabotArtifacts, dependabotBoth, personAgain] = results;
    // Controls: a person mints the key the policy guards; dependabot mints the one it does not.
    expect(personArtifacts!.statusCode).toBe(200);
    expect(JSON.parse(personArtifacts!.body).ARTIFACTS.credentials.MINIO_ACCESS_KEY).toBe(minio.issued[issuedBefore]!.accessKeyId);
    expect(dependabotDeploy!.statusCode).toBe(200);
    // The denials: the guarded key alone, and with another (all or nothing).
    for (const denied of [dependabotArtifacts!, dependabotBoth!]) {
      expect(denied.statusCode).toBe(403);
      expect(JSON.parse(denied.body)).toMatchObject({ error: 'policy_denied' });
      expect(denied.body).not.toContain('no-artifacts-for-dependabot');
      expect(denied.body).not.toContain('AccessKeyId');
    }
    expect(personAgain!.statusCode).toBe(200); // the same decision again (memoised), still an allow
    expect(minio.issued.length - issuedBefore).toBe(2);

    // The audit events carry the decision: determining policy and the set's version.
    const audits = output.split('\n').filter((line) => line.includes('"msg":"audit"')).map((line) => (JSON.parse(line) as { audit: { requestId: string; outcome: string; policy?: { active?: { version: string; decisions: Record<string, unknown> } } } }).audit);
    const denial = audits.find((event) => event.requestId === 'policy-invocation-2')!;
    expect(denial.outcome).toBe('denied');
    expect(denial.policy!.active!.version).toMatch(/^[0-9a-f]{64}$/);
    expect(denial.policy!.active!.decisions.ARTIFACTS).toEqual({ decision: 'deny', policies: ['no-artifacts-for-dependabot'], errors: [] });
    expect(audits.find((event) => event.requestId === 'policy-invocation-4')!.policy!.active!.decisions.ARTIFACTS).toEqual({ decision: 'allow', policies: ['voidkey.grants'], errors: [] });
    for (const secret of [person, dependabot, clientSecret]) expect(output).not.toContain(secret);
  });
});
