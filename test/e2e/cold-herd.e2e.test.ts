import { mintAt, startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

/** A fresh broker process, hit by a cold herd: one JWKS fetch, one broker token, one STS call per mint. */
describe('cold herd through the real server', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  const mint = (token: string) => mintAt<Record<string, { error?: string }>>(sandbox.broker.url, token, ['AWS_DEPLOY', 'ARTIFACTS']);

  it('50 concurrent cold mints cause one JWKS fetch and one broker token request', async () => {
    expect(sandbox.github.counts.jwks).toBe(0);
    expect(sandbox.brokerIdp.counts.token).toBe(0);
    const token = await sandbox.github.githubToken({ repository_id: '123456789' });
    const results = await Promise.all(Array.from({ length: 50 }, () => mint(token)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(sandbox.github.counts.jwks).toBe(1);
    expect(sandbox.brokerIdp.counts.token).toBe(1);
    expect(sandbox.aws.calls).toBe(50);
    expect(sandbox.minio.calls).toBe(50);
  });

  it('an unknown-kid storm costs at most one refetch per cooldown', async () => {
    const before = sandbox.github.counts.jwks;
    const strangers = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => sandbox.github.githubToken({ repository_id: '123456789' }, { header: { kid: `forged-${i}` } })),
    );
    const results = await Promise.all(strangers.map(mint));
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(401));
    expect(new Set(results.map((r) => r.body.error))).toEqual(new Set(['key_not_found']));
    expect(sandbox.github.counts.jwks - before).toBeLessThanOrEqual(1);
    const again = await Promise.all(strangers.map(mint));
    expect(new Set(again.map((r) => r.status))).toEqual(new Set([401]));
    expect(sandbox.github.counts.jwks - before).toBeLessThanOrEqual(1);
  });
});
