import { startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

/**
 * Upstream faults of access providers through the real server process: huge answers,
 * answers that stall half-way, credentials that outlive what was asked, and lifetimes
 * above the default ceiling. The broker answers each with a specific error and keeps
 * serving. (The sandbox's upstream timeout is 2 s.)
 */
describe('access-provider upstream faults through the real server', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(() => {
    sandbox.aws.clearFaults();
    sandbox.minio.clearFaults();
  });

  async function mint(body: Record<string, unknown>) {
    const token = await sandbox.github.githubToken({ repository_id: '123456789' });
    const response = await fetch(`${sandbox.broker.url}/credentials/mint`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> & { error?: string; message?: string } };
  }

  it.each([
    ['8 MB', 8 * 1024 * 1024],
    ['60 MB', 60 * 1024 * 1024],
  ])('an STS answer of %s: 502 provider_bad_response, read no further than the cap, and the next mint works', async (_name, bytes) => {
    expect((await mint({ keys: ['AWS_DEPLOY'] })).status).toBe(200); // control
    const before = sandbox.aws.floodBytesWritten;
    sandbox.aws.floodNext(1, bytes);
    const flooded = await mint({ keys: ['AWS_DEPLOY'] });
    expect(flooded.status).toBe(502);
    expect(flooded.body.error).toBe('provider_bad_response');
    expect(JSON.stringify(flooded.body)).not.toContain('AAAA');
    // The broker destroyed the socket at 64 KiB: what the emulator managed to write is socket buffers, not the answer.
    expect(sandbox.aws.floodBytesWritten - before).toBeLessThan(8 * 1024 * 1024);
    expect((await mint({ keys: ['AWS_DEPLOY'] })).status).toBe(200);
    expect(sandbox.broker.child.exitCode).toBeNull();
  });

  it('an STS answer that sends half its body and stalls: 504 provider_timeout, and the next mint works', async () => {
    expect((await mint({ keys: ['AWS_DEPLOY'] })).status).toBe(200); // control
    sandbox.aws.stallNext(1);
    const calls = sandbox.aws.calls;
    const stalled = await mint({ keys: ['AWS_DEPLOY'] });
    expect(stalled.status).toBe(504);
    expect(stalled.body.error).toBe('provider_timeout');
    expect(sandbox.aws.calls - calls).toBe(1); // a timeout is not retried
    expect((await mint({ keys: ['AWS_DEPLOY'] })).status).toBe(200);
  });

  it('credentials whose Expiration is far beyond the duration asked for: 502 provider_bad_response', async () => {
    const answer = (seconds: number) =>
      `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>${new Date(Date.now() + seconds * 1000).toISOString()}</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`;
    sandbox.aws.respondNext(1, { status: 200, body: answer(900) });
    expect((await mint({ keys: ['AWS_DEPLOY'], duration: 900 })).status).toBe(200); // control
    sandbox.aws.respondNext(1, { status: 200, body: answer(30 * 86_400) });
    const far = await mint({ keys: ['AWS_DEPLOY'], duration: 900 });
    expect(far.status).toBe(502);
    expect(far.body.error).toBe('provider_bad_response');
    expect(JSON.stringify(far.body)).not.toContain('ASIAEXAMPLE');
  });

  it('a MinIO key without maxDuration is capped at the default hour: 365 days is a 400, not a year-long key', async () => {
    expect((await mint({ keys: ['ARTIFACTS'], duration: 3600 })).status).toBe(200); // control: the ceiling itself
    const calls = sandbox.minio.calls;
    const year = await mint({ keys: ['ARTIFACTS'], duration: 365 * 86_400 });
    expect(year.status).toBe(400);
    expect(year.body.error).toBe('duration_invalid');
    expect(year.body.message).toBe("key 'ARTIFACTS' accepts a duration between 900 and 3600 seconds");
    expect(sandbox.minio.calls).toBe(calls); // refused before any call
  });

  it('an STS provider that fails every time: exactly 3 attempts for the key, then 503', async () => {
    sandbox.aws.failNext('always', { code: 'Throttling' });
    const calls = sandbox.aws.calls;
    const failed = await mint({ keys: ['AWS_DEPLOY'] });
    sandbox.aws.clearFaults();
    expect(failed.status).toBe(503);
    expect(failed.body.error).toBe('provider_unavailable');
    expect(sandbox.aws.calls - calls).toBe(3);
    expect((await mint({ keys: ['AWS_DEPLOY'] })).status).toBe(200);
  });
});
