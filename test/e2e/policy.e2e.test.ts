import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../sandbox/broker-process';
import { startPdpEmulator, type PdpEmulator } from '../../sandbox/pdp-emulator';
import type { PolicyAudit } from '../../broker-core';
import { mintAt, startSandbox, type Sandbox } from './sandbox';

/**
 * Policy guardrails through the real server: Cedar policies can only take away what the
 * YAML grants; every deny below has its allow control on the same fixture first.
 */
const NO_PII_FOR_PULL_REQUESTS = `@id("no-pii-for-pull-requests")
forbid (principal, action == Voidkey::Action::"mint", resource)
when {
  resource.hasTag("data") && resource.getTag("data") == "pii" &&
  principal.hasTag("event_name") && principal.getTag("event_name") == "pull_request"
};
`;
const SHORT_FOR_FORKS = `@id("fifteen-minutes-for-forks")
forbid (principal, action, resource)
when { principal.hasTag("event_name") && principal.getTag("event_name") == "pull_request_target" && context.durationSeconds > 900 };
`;

const PULL_REQUEST_IDENTITY = `  - name: app-pull-requests
    subject: repo:acme/app:pull_request
    idp: github-actions
    claims: { repository_id: "123456789" }
    keys:
      AWS_DEPLOY:
        provider: aws-sandbox
        roleArn: arn:aws:iam::111122223333:role/deploy
        outputs: { AWS_ACCESS_KEY_ID: AccessKeyId }
      ARTIFACTS:
        tags: { data: pii }
        provider: minio-sandbox
        roleArn: arn:minio:iam:::role/voidkey-artifacts
        outputs: { MINIO_ACCESS_KEY: AccessKeyId }
`;

function withPolicy(policy: string, keyTags = true) {
  return (config: string) => {
    let text = config.replace('clientIdentities:', `policy:\n${policy}clientIdentities:`);
    if (keyTags) text = text.replace('      ARTIFACTS:\n        provider: minio-sandbox', '      ARTIFACTS:\n        tags: { data: pii }\n        provider: minio-sandbox');
    // Pull requests get their own identity (their subject is repo:acme/app:pull_request), granted the same keys.
    return text.replace('default: github-actions', `${PULL_REQUEST_IDENTITY}default: github-actions`);
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function metric(sandbox: Sandbox, line: string): Promise<number> {
  const text = await (await fetch(`${sandbox.broker.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.split(' ')[1]);
}

interface AuditWithPolicy {
  outcome: string;
  reason?: string;
  detail?: string;
  policy: PolicyAudit;
}

const pushToken = (sandbox: Sandbox) => sandbox.github.githubToken({ repository_id: '123456789', event_name: 'push' });
const prToken = (sandbox: Sandbox) => sandbox.github.githubToken({ repository_id: '123456789', event_name: 'pull_request' });

describe('an active Cedar policy set', () => {
  let sandbox: Sandbox;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'voidkey-policy-'));
    writeFileSync(join(dir, 'active.cedar'), NO_PII_FOR_PULL_REQUESTS);
    writeFileSync(join(dir, 'candidate.cedar'), NO_PII_FOR_PULL_REQUESTS + SHORT_FOR_FORKS.replace('"pull_request_target"', '"push"'));
    sandbox = await startSandbox({
      transformConfig: (config) =>
        withPolicy(`  active: ${join(dir, 'active.cedar')}\n  observe: ${join(dir, 'candidate.cedar')}\n`)(config).replace('clientIdps:', `server:\n  audit:\n    file: ${join(dir, 'audit.jsonl')}\nclientIdps:`),
    });
  });
  afterAll(() => sandbox.close());

  it('allows a push to mint the pii key, denies a pull request with 403 policy_denied naming no policy', async () => {
    const allowed = await mintAt(sandbox.broker.url, await pushToken(sandbox), ['ARTIFACTS']);
    expect(allowed.status).toBe(200);

    const denied = await mintAt<{ error: string; message: string }>(sandbox.broker.url, await prToken(sandbox), ['ARTIFACTS']);
    expect(denied.status).toBe(403);
    expect(denied.body.error).toBe('policy_denied');
    expect(denied.body.message).not.toContain('no-pii');
    expect(JSON.stringify(denied.body)).not.toMatch(/forbid|\.cedar/);
  });

  it('denies the whole request when one key is denied (all or nothing), and the same token mints the key the policy allows', async () => {
    const token = await prToken(sandbox);
    expect((await mintAt(sandbox.broker.url, token, ['AWS_DEPLOY'])).status).toBe(200);
    const both = await mintAt<Record<string, unknown>>(sandbox.broker.url, token, ['AWS_DEPLOY', 'ARTIFACTS']);
    expect(both.status).toBe(403);
    expect(both.body.AWS_DEPLOY).toBeUndefined();
    expect(JSON.stringify(both.body)).not.toContain('SecretAccessKey');
  });

  it('audits the determining policy, the set versions, and the claims and context a replay needs — never the token', async () => {
    const token = await prToken(sandbox);
    const denied = await mintAt(sandbox.broker.url, token, ['ARTIFACTS']);
    await waitFor(() => sandbox.broker.auditEvents().some((e) => e.requestId === denied.requestId));
    const event = sandbox.broker.auditEvents().find((e) => e.requestId === denied.requestId)! as unknown as AuditWithPolicy;
    expect(event.outcome).toBe('denied');
    expect(event.reason).toBe('policy_denied');
    expect(event.detail).toContain('no-pii-for-pull-requests');
    expect(event.policy.active!.version).toMatch(/^[0-9a-f]{64}$/);
    expect(event.policy.active!.decisions.ARTIFACTS).toEqual({ decision: 'deny', policies: ['no-pii-for-pull-requests'], errors: [] });
    expect(event.policy.observe!.version).toMatch(/^[0-9a-f]{64}$/);
    expect(event.policy.observe!.version).not.toBe(event.policy.active!.version);
    expect(event.policy.input.principal).toMatchObject({ idp: 'github-actions', subject: 'repo:acme/app:pull_request', identities: ['app-pull-requests'] });
    expect(event.policy.input.principal.tags.event_name).toBe('pull_request');
    expect(event.policy.input.resources.ARTIFACTS).toMatchObject({ provider: 'minio-sandbox', providerType: 'minio-sts', identity: 'app-pull-requests', tags: { data: 'pii' } });
    expect(event.policy.input.context).toMatchObject({ keys: ['ARTIFACTS'], sourceIp: '127.0.0.1' });
    expect(JSON.stringify(event)).not.toContain(token);
    expect(JSON.stringify(event)).not.toContain(token.split('.')[2]);
  });

  it('shows only the keys the policies allow in GET /credentials/keys', async () => {
    const keys = async (token: string) =>
      ((await (await fetch(`${sandbox.broker.url}/credentials/keys`, { headers: { authorization: `Bearer ${token}` } })).json()) as { keys: Array<{ name: string }> }).keys.map((k) => k.name).sort();
    expect(await keys(await pushToken(sandbox))).toEqual(['ARTIFACTS', 'AWS_DEPLOY', 'AWS_READONLY']);
    expect(await keys(await prToken(sandbox))).toEqual(['AWS_DEPLOY']);
  });

  it('voidkey whoami (the real CLI) lists only the keys the policies allow', async () => {
    const whoami = async (token: string) =>
      JSON.parse((await runCli(['whoami', '--json'], { env: { VOIDKEY_BROKER_URL: sandbox.broker.url, VOIDKEY_OIDC_TOKEN: token } })).stdout) as { keys: string[] };
    expect((await whoami(await pushToken(sandbox))).keys.sort()).toEqual(['ARTIFACTS', 'AWS_DEPLOY', 'AWS_READONLY']);
    expect((await whoami(await prToken(sandbox))).keys).toEqual(['AWS_DEPLOY']);
  });

  it('observe mode: the candidate is recorded and counted, never changes an answer', async () => {
    const before = await metric(sandbox, 'voidkey_policy_disagreements_total');
    const observeDenyBefore = await metric(sandbox, 'voidkey_policy_decisions_total{set="observe",decision="deny"}');
    // The candidate forbids pushes over 900 s; the active set allows them: 200, and a disagreement.
    const response = await fetch(`${sandbox.broker.url}/credentials/mint`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await pushToken(sandbox)}` },
      body: JSON.stringify({ keys: ['AWS_DEPLOY'], duration: 1800 }),
    });
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-request-id');
    expect(await metric(sandbox, 'voidkey_policy_disagreements_total')).toBe(before + 1);
    expect(await metric(sandbox, 'voidkey_policy_decisions_total{set="observe",decision="deny"}')).toBe(observeDenyBefore + 1);
    await waitFor(() => sandbox.broker.auditEvents().some((e) => e.requestId === requestId));
    const event = sandbox.broker.auditEvents().find((e) => e.requestId === requestId)! as unknown as AuditWithPolicy;
    expect(event.outcome).toBe('allowed');
    expect(event.policy.active!.decisions.AWS_DEPLOY.decision).toBe('allow');
    expect(event.policy.observe!.decisions!.AWS_DEPLOY).toEqual({ decision: 'deny', policies: ['fifteen-minutes-for-forks'], errors: [] });
    // Control: within 900 s both sets allow, and nothing disagrees.
    expect((await mintAt(sandbox.broker.url, await pushToken(sandbox), ['AWS_DEPLOY'])).status).toBe(200);
    expect(await metric(sandbox, 'voidkey_policy_disagreements_total')).toBe(before + 1);
  });

  it('voidkey policy replay: a candidate that changes nothing exits 0; one that denies more lists each request and exits 7', async () => {
    // Recorded traffic: a push and a pull request minting AWS_DEPLOY (both allowed today).
    const push = await mintAt(sandbox.broker.url, await pushToken(sandbox), ['AWS_DEPLOY']);
    const pr = await mintAt(sandbox.broker.url, await prToken(sandbox), ['AWS_DEPLOY']);
    expect([push.status, pr.status]).toEqual([200, 200]);
    const audit = join(dir, 'audit.jsonl');
    await waitFor(() => readFileSync(audit, 'utf8').includes(pr.requestId!));

    const same = await runCli(['policy', 'replay', '--config', sandbox.broker.configPath, '--policies', join(dir, 'active.cedar'), audit]);
    expect(same.stderr).toBe('');
    expect(same.stdout).toMatch(/0 newly denied, 0 newly allowed/);
    expect(same.code).toBe(0);

    const stricter = join(dir, 'stricter.cedar');
    writeFileSync(stricter, `${NO_PII_FOR_PULL_REQUESTS}@id("no-prod-for-pull-requests")\nforbid (principal, action, resource == Voidkey::Key::"AWS_DEPLOY") when { principal.hasTag("event_name") && principal.getTag("event_name") == "pull_request" };\n`);
    const changed = await runCli(['policy', 'replay', '--config', sandbox.broker.configPath, '--policies', stricter, audit]);
    expect(changed.code).toBe(7);
    expect(changed.stdout).toMatch(/[1-9]\d* newly denied, 0 newly allowed/);
    const row = changed.stdout.split('\n').find((line) => line.includes(pr.requestId!));
    expect(row).toMatch(/newly denied\s+\S+\s+repo:acme\/app:pull_request\s+AWS_DEPLOY\s+no-prod-for-pull-requests/);
    expect(changed.stdout).not.toContain(push.requestId!);

    // Looser: without the pii rule, the recorded pull-request denials of ARTIFACTS become allowed.
    const looser = await runCli(['policy', 'replay', '--config', sandbox.broker.configPath, '--policies', join(dir, 'candidate.cedar').replace('candidate', 'empty'), audit].map((a) => a));
    expect(looser.code).toBe(2);
    writeFileSync(join(dir, 'empty.cedar'), '');
    const allowedNow = await runCli(['policy', 'replay', '--config', sandbox.broker.configPath, '--policies', join(dir, 'empty.cedar'), audit]);
    expect(allowedNow.code).toBe(7);
    expect(allowedNow.stdout).toMatch(/0 newly denied, [1-9]\d* newly allowed/);
    expect(allowedNow.stdout).toMatch(/newly allowed\s+\S+\s+repo:acme\/app:pull_request\s+ARTIFACTS/);
  });

  it('voidkey policy validate and config validate report a policy error with file:line:col (a valid set passes)', async () => {
    const good = await runCli(['policy', 'validate', join(dir, 'active.cedar')]);
    expect(good.code).toBe(0);
    const bad = join(dir, 'bad.cedar');
    writeFileSync(bad, 'forbid (principal, action, resource)\nwhen { resource.owner == "x" };\n');
    const refused = await runCli(['policy', 'validate', bad]);
    expect(refused.code).toBe(7);
    expect(refused.stdout).toContain(`${bad}:2:8: attribute \`owner\` on entity type \`Voidkey::Key\` not found`);

    expect((await runCli(['config', 'validate', sandbox.broker.configPath])).code).toBe(0);
    const config = join(dir, 'config-bad-policy.yaml');
    writeFileSync(config, readFileSync(sandbox.broker.configPath, 'utf8').replace(join(dir, 'active.cedar'), bad));
    const invalid = await runCli(['config', 'validate', config]);
    expect(invalid.code).toBe(7);
    expect(invalid.stdout + invalid.stderr).toContain(`${bad}:2:8:`);
  });

  it('voidkey config explain names the policies that could deny each granted key', async () => {
    const claims = JSON.stringify({ iss: sandbox.github.issuer, sub: 'repo:acme/app:pull_request', repository_id: '123456789', event_name: 'pull_request' });
    const explained = await runCli(['config', 'explain', sandbox.broker.configPath, '--claims', claims]);
    expect(explained.code).toBe(0);
    const line = explained.stdout.split('\n').find((l) => l.trim().startsWith('ARTIFACTS'));
    expect(line).toContain('policies that could deny it: no-pii-for-pull-requests; observe: no-pii-for-pull-requests, fifteen-minutes-for-forks');
  });

  it('carries the active and observe versions on /readyz', async () => {
    const body = (await (await fetch(`${sandbox.broker.url}/readyz`)).json()) as { policy: { active: string; observe: string } };
    expect(body.policy.active).toMatch(/^[0-9a-f]{64}$/);
    expect(body.policy.observe).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('reloading policies with the config (SIGHUP)', () => {
  it('swaps a valid set, keeps the running one when the new set fails to load and says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voidkey-policy-'));
    const file = join(dir, 'active.cedar');
    writeFileSync(file, NO_PII_FOR_PULL_REQUESTS);
    const sandbox = await startSandbox({ transformConfig: withPolicy(`  active: ${file}\n`) });
    try {
      const version = async () => ((await (await fetch(`${sandbox.broker.url}/readyz`)).json()) as { policy: { active: string } }).policy.active;
      const first = await version();
      // One token throughout: its decision is memoised, and a reload must not answer from the old set's cache.
      const pr = await prToken(sandbox);
      expect((await mintAt(sandbox.broker.url, pr, ['ARTIFACTS'])).status).toBe(403);
      expect((await mintAt(sandbox.broker.url, pr, ['ARTIFACTS'])).status).toBe(403);

      // A set without the rule: the pull request may mint again.
      writeFileSync(file, SHORT_FOR_FORKS);
      sandbox.broker.child.kill('SIGHUP');
      await waitFor(() => sandbox.broker.output().includes('config reloaded'));
      expect(await version()).not.toBe(first);
      expect((await mintAt(sandbox.broker.url, pr, ['ARTIFACTS'])).status).toBe(200);
      const second = await version();

      // A set that references an unknown attribute: refused with file:line:col; the running set stays.
      writeFileSync(file, NO_PII_FOR_PULL_REQUESTS + 'forbid (principal, action, resource) when { principal.team == "x" };\n');
      sandbox.broker.child.kill('SIGHUP');
      await waitFor(() => sandbox.broker.output().includes('config reload refused'));
      expect(sandbox.broker.output()).toContain(`${file}:7:45: attribute`);
      expect(sandbox.broker.output()).toMatch(/attribute `team` on entity type `Voidkey::Caller` not found/);
      expect(await version()).toBe(second);
      expect((await mintAt(sandbox.broker.url, pr, ['ARTIFACTS'])).status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });
});

describe('an external AuthZEN PDP', () => {
  let sandbox: Sandbox;
  let pdp: PdpEmulator;
  beforeAll(async () => {
    pdp = await startPdpEmulator();
    sandbox = await startSandbox({ transformConfig: withPolicy(`  pdp:\n    url: ${pdp.url}\n    timeoutMs: 300\n`) });
  });
  afterAll(async () => {
    await sandbox.close();
    await pdp.close();
  });
  beforeEach(() => {
    pdp.received.length = 0;
    pdp.decide = () => true;
  });

  it('is asked for every key (subject, action mint, resource, context) and never sees a token or a credential', async () => {
    const token = await pushToken(sandbox);
    const response = await mintAt<Record<string, { credentials: Record<string, string> }>>(sandbox.broker.url, token, ['AWS_DEPLOY', 'ARTIFACTS']);
    expect(response.status).toBe(200);
    expect(pdp.received.map((r) => r.body.resource.id).sort()).toEqual(['ARTIFACTS', 'AWS_DEPLOY']);
    const request = pdp.received.find((r) => r.body.resource.id === 'ARTIFACTS')!;
    expect(request.body).toMatchObject({
      subject: { type: 'caller', id: 'repo:acme/app:ref:refs/heads/main', properties: { idp: 'github-actions' } },
      action: { name: 'mint' },
      resource: { type: 'key', id: 'ARTIFACTS', properties: { providerType: 'minio-sts', tags: { data: 'pii' } } },
      context: { durationSeconds: 3600, keys: ['AWS_DEPLOY', 'ARTIFACTS'], sourceIp: '127.0.0.1' },
    });
    const seen = JSON.stringify(pdp.received);
    expect(seen).not.toContain(token);
    expect(seen).not.toContain(token.split('.')[2]);
    expect(seen).not.toContain(response.body.AWS_DEPLOY!.credentials.AWS_SECRET_ACCESS_KEY);
    expect(seen).not.toContain(sandbox.clientSecret);
  });

  it('a false decision is 403 policy_denied for the whole request', async () => {
    pdp.decide = (body) => body.resource.id !== 'ARTIFACTS';
    expect((await mintAt(sandbox.broker.url, await pushToken(sandbox), ['AWS_DEPLOY'])).status).toBe(200);
    const denied = await mintAt<{ error: string }>(sandbox.broker.url, await pushToken(sandbox), ['AWS_DEPLOY', 'ARTIFACTS']);
    expect(denied.status).toBe(403);
    expect(denied.body.error).toBe('policy_denied');
  });

  it('GET /credentials/keys asks the PDP too and fails closed with it', async () => {
    const token = await pushToken(sandbox);
    const keys = () => fetch(`${sandbox.broker.url}/credentials/keys`, { headers: { authorization: `Bearer ${token}` } });
    pdp.decide = (body) => body.resource.id !== 'ARTIFACTS';
    const listed = await keys();
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { keys: Array<{ name: string }> }).keys.map((k) => k.name).sort()).toEqual(['AWS_DEPLOY', 'AWS_READONLY']);
    pdp.fail('status-500');
    const failed = await keys();
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as { error: string }).error).toBe('policy_unavailable');
  });

  it('an unreachable PDP (connection refused) fails closed too', async () => {
    const closed = await startPdpEmulator();
    const url = closed.url;
    await closed.close();
    await sandbox.restartBroker(sandbox.config.replace(pdp.url, url));
    try {
      const response = await mintAt<{ error: string }>(sandbox.broker.url, await pushToken(sandbox), ['AWS_DEPLOY']);
      expect(response.status).toBe(503);
      expect(response.body.error).toBe('policy_unavailable');
    } finally {
      await sandbox.restartBroker(sandbox.config);
    }
    // Control: the configured PDP answers again after the restart.
    expect((await mintAt(sandbox.broker.url, await pushToken(sandbox), ['AWS_DEPLOY'])).status).toBe(200);
  });

  it.each(['timeout', 'status-500', 'unparsable', 'non-boolean'] as const)('fails closed on %s: 503 policy_unavailable, nothing minted', async (fault) => {
    const awsCalls = sandbox.aws.calls;
    expect((await mintAt(sandbox.broker.url, await pushToken(sandbox), ['AWS_DEPLOY'])).status).toBe(200);
    expect(sandbox.aws.calls).toBe(awsCalls + 1);
    pdp.fail(fault);
    const response = await fetch(`${sandbox.broker.url}/credentials/mint`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await pushToken(sandbox)}` },
      body: JSON.stringify({ keys: ['AWS_DEPLOY'] }),
    });
    const body = (await response.json()) as { error: string; message: string };
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(body.error).toBe('policy_unavailable');
    expect(body.message).not.toContain(pdp.url);
    expect(sandbox.aws.calls).toBe(awsCalls + 1);
  });
});
