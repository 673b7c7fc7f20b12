import { rejectionOf } from '../../test/support/outcomes';
import { DEFAULT_SETTINGS, type KeyConfig, type MintContext } from '../../broker-core';
import { NodeHttpClient } from '../../broker-server/node-http-client';
import { startStsEmulator, type StsEmulator } from '../../sandbox/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';
import { minioStsProvider } from '../minio-sts';
import { roleSessionName } from '../sts-common/sts-client';
import { awsStsProvider, type AwsStsProviderConfig } from '.';

const ROLE = 'arn:aws:iam::111122223333:role/deploy';
const AUDIENCE = 'voidkey-broker';

/** The real AWS SDK against the STS emulator, with a real broker token the emulator verifies. */
describe('aws-sts provider', () => {
  let brokerIdp: TokenIssuer;
  let sts: StsEmulator;
  const http = new NodeHttpClient();
  const settings = { ...DEFAULT_SETTINGS, allowHttpLoopback: true, upstreamTimeoutMs: 400 };

  beforeAll(async () => {
    brokerIdp = await startTokenIssuer({ audience: AUDIENCE });
    sts = await startStsEmulator({ flavor: 'aws', trust: { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: AUDIENCE }, maxSessionDuration: 43_200 });
  });
  afterAll(async () => {
    await sts.close();
    await brokerIdp.close();
    http.close();
  });
  beforeEach(() => sts.reset());

  const provider = (overrides: Partial<AwsStsProviderConfig> = {}) =>
    awsStsProvider.create({ name: 'aws', type: 'aws-sts', endpoint: sts.url, region: 'us-east-1', ...overrides }, { settings, http });
  const key = (overrides: Partial<KeyConfig> = {}): KeyConfig => ({ provider: 'aws', roleArn: ROLE, outputs: { A: 'AccessKeyId' }, ...overrides });
  let brokerTokens = 0;
  const context = (k: KeyConfig, overrides: Partial<MintContext> = {}): MintContext => ({
    keyName: 'AWS',
    key: k,
    durationSeconds: 900,
    subject: 'repo:acme/app:ref:refs/heads/main',
    idp: 'github-actions',
    claims: { sub: 'repo:acme/app:ref:refs/heads/main', repository: 'acme/app', actor: 'octocat', ref: 'refs/heads/main', run_id: '42' },
    requestId: 'req-1',
    signal: AbortSignal.timeout(10_000),
    deadline: Date.now() + 10_000,
    brokerToken: async () => {
      brokerTokens++;
      return brokerIdp.sign({ sub: 'voidkey-broker' });
    },
    ...overrides,
  });

  describe('web identity', () => {
    it('sends exactly the documented AssumeRoleWithWebIdentity request and maps the answer', async () => {
      const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] };
      const minted = await provider().mint(context(key({ policy, policyArns: ['arn:aws:iam::aws:policy/ReadOnlyAccess'] }), { durationSeconds: 1800 }));
      expect(sts.calls).toBe(1);
      const [request] = sts.requests;
      expect(request!.method).toBe('POST');
      expect(request!.signed).toBe(false);
      expect(request!.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
      expect(request!.params).toMatchObject({
        Action: 'AssumeRoleWithWebIdentity',
        Version: '2011-06-15',
        RoleArn: ROLE,
        // Sanitising changed the subject (':' and '/'), so a hash of the original is appended.
        RoleSessionName: expect.stringMatching(/^repo-acme-app-ref-refs-heads-main-[0-9a-f]{8}$/),
        DurationSeconds: '1800',
        Policy: JSON.stringify(policy),
        'PolicyArns.member.1.arn': 'arn:aws:iam::aws:policy/ReadOnlyAccess',
      });
      const issued = sts.issued[0]!;
      expect(minted.fields).toEqual({
        AccessKeyId: issued.accessKeyId,
        SecretAccessKey: issued.secretAccessKey,
        SessionToken: issued.sessionToken,
        Expiration: new Date(Math.floor(issued.expiration.getTime() / 1000) * 1000).toISOString(),
      });
      expect(minted.credentialId).toBe(issued.accessKeyId);
      expect(minted.upstreamRequestId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('sanitises a long, exotic subject into a valid RoleSessionName', async () => {
      await provider().mint(context(key(), { subject: `repo:acme/app:ref:refs/heads/feature/ünïcode with spaces/${'x'.repeat(80)}` }));
      expect(sts.requests[0]!.params.RoleSessionName).toMatch(/^[\w+=,.@-]{2,64}$/);
    });

    it.each([
      ['InvalidIdentityToken'],
      ['ExpiredTokenException'],
      ['IDPRejectedClaim'],
      ['AccessDenied'],
      ['MalformedPolicyDocument'],
      ['PackedPolicyTooLarge'],
      ['RegionDisabledException'],
      ['ValidationError'],
    ])('%s → 502 provider_rejected, not retried, no upstream text', async (code) => {
      await provider().mint(context(key()));
      sts.reset();
      sts.failNext(1, { code, message: 'canary-upstream-text' });
      const error = await rejectionOf(provider().mint(context(key())));
      expect(error.reason).toBe('provider_rejected');
      expect(error.message).not.toContain('canary-upstream-text');
      expect(error.detail).not.toContain('canary-upstream-text');
      expect(sts.calls).toBe(1);
    });

    it.each([['Throttling'], ['IDPCommunicationError'], ['InternalFailure'], ['ServiceUnavailable']])(
      '%s is retried with backoff, then 503 provider_unavailable with Retry-After',
      async (code) => {
        sts.failNext('always', { code });
        const error = await rejectionOf(provider().mint(context(key())));
        sts.clearFaults();
        expect(error.reason).toBe('provider_unavailable');
        expect(error.retryAfterSeconds).toBeGreaterThan(0);
        expect(sts.calls).toBe(3);
      },
    );

    it('succeeds after a throttle', async () => {
      sts.failNext(1, { code: 'Throttling' });
      const minted = await provider().mint(context(key()));
      expect(minted.credentialId).toMatch(/^ASIA/);
      expect(sts.calls).toBe(2);
    });

    it('never retries past the deadline (the request budget or the caller token expiry)', async () => {
      sts.failNext('always', { code: 'Throttling' });
      const error = await rejectionOf(provider().mint(context(key(), { deadline: Date.now() + 20 })));
      sts.clearFaults();
      expect(error.reason).toBe('provider_unavailable');
      expect(sts.calls).toBe(1);
    });

    it('a hang ends in 504 provider_timeout within the provider timeout', async () => {
      sts.hangNext(1);
      const error = await rejectionOf(provider().mint(context(key())));
      expect(error.reason).toBe('provider_timeout');
      expect(sts.calls).toBe(1);
    });

    it.each([
      ['HTML', '<html><body>Service Unavailable</body></html>', 'text/html'],
      ['no secret', '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>', 'text/xml'],
      ['no expiry', '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>', 'text/xml'],
      ['expiry in the past', '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2001-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>', 'text/xml'],
      ['empty', '', 'text/xml'],
    ])('a 200 with a broken body (%s) → 502 provider_bad_response', async (_name, body, contentType) => {
      await expect(provider().mint(context(key()))).resolves.toBeDefined();
      sts.respondNext(1, { status: 200, body, contentType });
      const error = await rejectionOf(provider().mint(context(key())));
      expect(error.reason).toBe('provider_bad_response');
    });

    const answer = (expiration: string) =>
      `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>${expiration}</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`;
    const inSeconds = (seconds: number) => `${new Date(Date.now() + seconds * 1000).toISOString().slice(0, 19)}Z`;

    it.each([
      ['far beyond the duration asked for', inSeconds(900 + 3600)],
      ['a year ahead', inSeconds(365 * 86_400)],
      ['not ISO 8601', 'tomorrow'],
      ['a date without a time', '2099-01-01'],
    ])('an Expiration %s → 502 provider_bad_response, not passed through', async (_name, expiration) => {
      sts.respondNext(1, { status: 200, body: answer(inSeconds(900)), contentType: 'text/xml' });
      await expect(provider().mint(context(key()))).resolves.toMatchObject({ fields: { AccessKeyId: 'ASIAEXAMPLE' } }); // control
      sts.respondNext(1, { status: 200, body: answer(expiration), contentType: 'text/xml' });
      const error = await rejectionOf(provider().mint(context(key())));
      expect(error.reason).toBe('provider_bad_response');
      expect(sts.calls).toBe(2);
    });

    it.each([
      ['8 MB', 8 * 1024 * 1024],
      ['60 MB', 60 * 1024 * 1024],
    ])('an answer of %s is cut off at 64 KiB: 502 provider_bad_response, nothing buffered past the cap', async (_name, bytes) => {
      await expect(provider().mint(context(key()))).resolves.toBeDefined(); // control
      sts.floodNext(1, bytes);
      const before = sts.floodBytesWritten;
      const error = await rejectionOf(provider().mint(context(key())));
      expect(error.reason).toBe('provider_bad_response');
      expect(error.detail).toBe('AWS STS: answer over 65536 bytes');
      await waitFor(() => sts.floodBytesWritten > before);
      // The socket was destroyed at the cap: the server wrote at most socket buffers' worth more.
      expect(sts.floodBytesWritten - before).toBeLessThan(8 * 1024 * 1024);
      expect(sts.calls).toBe(2); // not retried
      await expect(provider().mint(context(key()))).resolves.toBeDefined();
    });

    it('half an answer, then a stall: cut off by the upstream timeout, 504 provider_timeout, not retried', async () => {
      await expect(provider().mint(context(key()))).resolves.toBeDefined(); // control
      sts.stallNext(1);
      const error = await rejectionOf(provider().mint(context(key())));
      expect(error.reason).toBe('provider_timeout');
      expect(sts.calls).toBe(2);
      await expect(provider().mint(context(key()))).resolves.toBeDefined();
    });

    it('refuses an answer carrying a DTD (no entity expansion) → 502 provider_bad_response', async () => {
      const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>${answer(inSeconds(900)).replace('<SessionToken>t', '<SessionToken>&lol2;')}`;
      sts.respondNext(1, { status: 200, body: answer(inSeconds(900)), contentType: 'text/xml' });
      await expect(provider().mint(context(key()))).resolves.toBeDefined(); // control
      sts.respondNext(1, { status: 200, body: bomb, contentType: 'text/xml' });
      const error = await rejectionOf(provider().mint(context(key())));
      expect(error.reason).toBe('provider_bad_response');
    });

    it('decodes XML entities in credential fields', async () => {
      sts.respondNext(1, { status: 200, body: answer(inSeconds(900)).replace('<SecretAccessKey>s', '<SecretAccessKey>a&amp;b&lt;c&gt;&quot;&apos;'), contentType: 'text/xml' });
      const minted = await provider().mint(context(key()));
      expect(minted.fields.SecretAccessKey).toBe('a&b<c>"\'');
    });

    it('asks the broker for the provider audience when brokerAuth.audience is set', async () => {
      const audiences: Array<string | undefined> = [];
      await provider({ brokerAuth: { audience: AUDIENCE } }).mint(
        context(key(), { brokerToken: async (aud) => (audiences.push(aud), brokerIdp.sign({ sub: 'voidkey-broker' })) }),
      );
      expect(audiences).toEqual([AUDIENCE]);
    });
  });

  describe('ambient (AssumeRole with the broker own AWS credentials)', () => {
    const saved = { ...process.env };
    beforeAll(() => {
      process.env.AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
      process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
      process.env.AWS_SESSION_TOKEN = 'ambient-session';
    });
    afterAll(() => {
      process.env = saved;
    });
    const ambient = () => provider({ auth: 'ambient' });
    const tagged = (overrides: Partial<KeyConfig> = {}) =>
      key({
        externalId: 'voidkey-prod',
        sourceIdentity: '${claims.actor}',
        sessionTags: { repository: '${claims.repository}', ref: '${claims.ref}', run: '${claims.run_id}' },
        transitiveTagKeys: ['repository'],
        roleSessionName: 'ci-${claims.actor}-${claims.run_id}',
        ...overrides,
      });

    it('signs AssumeRole and carries SourceIdentity, session tags and ExternalId from the claims', async () => {
      brokerTokens = 0;
      const minted = await ambient().mint(context(tagged()));
      expect(minted.credentialId).toMatch(/^ASIA/);
      expect(brokerTokens).toBe(0);
      const [request] = sts.requests;
      expect(request!.signed).toBe(true);
      expect(request!.params).toMatchObject({
        Action: 'AssumeRole',
        RoleArn: ROLE,
        RoleSessionName: 'ci-octocat-42',
        ExternalId: 'voidkey-prod',
        SourceIdentity: 'octocat',
        'Tags.member.1.Key': 'repository',
        'Tags.member.1.Value': 'acme/app',
        'Tags.member.2.Key': 'ref',
        'Tags.member.2.Value': 'refs/heads/main',
        'TransitiveTagKeys.member.1': 'repository',
      });
    });

    it('refuses the mint (403 claim_value_invalid) when a template claim is missing, before any call', async () => {
      const { actor: _actor, ...claims } = context(tagged()).claims as Record<string, unknown>;
      void _actor;
      const error = await rejectionOf(ambient().mint(context(tagged(), { claims })));
      expect(error.reason).toBe('claim_value_invalid');
      expect(sts.calls).toBe(0);
    });

    it('refuses a claim value outside AWS character set rather than rewriting it', async () => {
      const error = await rejectionOf(ambient().mint(context(tagged(), { claims: { ...context(tagged()).claims, actor: 'robert"); drop' } })));
      expect(error.reason).toBe('claim_value_invalid');
      expect(sts.calls).toBe(0);
      await expect(ambient().mint(context(tagged()))).resolves.toBeDefined();
    });

    it('caps durations at one hour (role chaining)', () => {
      const bounds = awsStsProvider.durationBounds({ name: 'a', type: 'aws-sts', auth: 'ambient' }, key());
      expect(bounds.max).toBe(3600);
      const problems = awsStsProvider.check!({ name: 'a', type: 'aws-sts', auth: 'ambient' }, ['accessProviders', 0], [{ path: ['k'], key: key({ maxDuration: 7200 }) }]);
      expect(problems).toEqual([{ path: ['k', 'maxDuration'], message: expect.stringMatching(/caps at 3600/) }]);
      expect(awsStsProvider.check!({ name: 'a', type: 'aws-sts' }, ['accessProviders', 0], [{ path: ['k'], key: key({ maxDuration: 7200 }) }])).toEqual([]);
    });

    it('refuses session tags on a web-identity provider at load', () => {
      const problems = awsStsProvider.check!({ name: 'a', type: 'aws-sts' }, ['accessProviders', 0], [{ path: ['k'], key: tagged() }]);
      expect(problems.map((p) => p.path.join('.'))).toEqual(['k.externalId', 'k.sessionTags', 'k.transitiveTagKeys', 'k.sourceIdentity']);
    });
  });
});

describe('minio-sts provider', () => {
  let brokerIdp: TokenIssuer;
  let minio: StsEmulator;
  const http = new NodeHttpClient();
  const MINIO_ROLE = 'arn:minio:iam:::role/artifacts';
  beforeAll(async () => {
    brokerIdp = await startTokenIssuer({ audience: AUDIENCE });
    minio = await startStsEmulator({ flavor: 'minio', trust: { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: AUDIENCE }, minioRoleArn: MINIO_ROLE });
  });
  afterAll(async () => {
    await minio.close();
    await brokerIdp.close();
    http.close();
  });

  it('mints per-key rights: the role and session policy of each key reach MinIO, and Endpoint is an output', async () => {
    const provider = minioStsProvider.create({ name: 'minio', type: 'minio-sts', endpoint: minio.url }, { settings: { ...DEFAULT_SETTINGS, allowHttpLoopback: true }, http });
    const ctx = (key: KeyConfig): MintContext => ({
      keyName: 'K', key, durationSeconds: 3600, subject: 's', idp: 'i', claims: {}, requestId: 'r',
      signal: AbortSignal.timeout(5000), deadline: Date.now() + 5000, brokerToken: () => brokerIdp.sign({ sub: 'voidkey-broker' }),
    });
    const read = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::artifacts/*'] }] };
    const write = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:PutObject'], Resource: ['arn:aws:s3:::artifacts/*'] }] };
    const a = await provider.mint(ctx({ provider: 'minio', roleArn: MINIO_ROLE, policy: read, outputs: {} }));
    const b = await provider.mint(ctx({ provider: 'minio', roleArn: MINIO_ROLE, policy: JSON.stringify(write), outputs: {} }));
    expect(minio.requests.map((r) => [r.params.RoleArn, r.params.Policy])).toEqual([
      [MINIO_ROLE, JSON.stringify(read)],
      [MINIO_ROLE, JSON.stringify(write)],
    ]);
    expect(a.fields.Endpoint).toBe(minio.url);
    expect(a.fields.AccessKeyId).not.toBe(b.fields.AccessKeyId);
    minio.failNext(1, { code: 'InvalidParameterValue' });
    await expect(provider.mint(ctx({ provider: 'minio', roleArn: MINIO_ROLE, outputs: {} }))).rejects.toMatchObject({ reason: 'provider_rejected' });
  });
});

/** Voidkey's spellings reach the wire as documented: honoured where STS can take them, never sent where it cannot. */
describe('Voidkey fields on the wire', () => {
  let brokerIdp: TokenIssuer;
  let aws: StsEmulator;
  let minio: StsEmulator;
  const http = new NodeHttpClient();
  const settings = { ...DEFAULT_SETTINGS, allowHttpLoopback: true };
  const MINIO_ROLE = 'arn:minio:iam:::role/broker-role';
  beforeAll(async () => {
    brokerIdp = await startTokenIssuer({ audience: AUDIENCE });
    const trust = { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: AUDIENCE };
    aws = await startStsEmulator({ flavor: 'aws', trust, maxSessionDuration: 43_200 });
    // claim-based MinIO: the policy comes from the broker token's `policy` claim
    minio = await startStsEmulator({ flavor: 'minio', trust });
  });
  afterAll(async () => {
    await Promise.all([aws.close(), minio.close(), brokerIdp.close()]);
    http.close();
  });
  const ctx = (key: KeyConfig, durationSeconds = 900): MintContext => ({
    keyName: 'K', key, durationSeconds, subject: 's', idp: 'i', claims: {}, requestId: 'r',
    signal: AbortSignal.timeout(5000), deadline: Date.now() + 5000, brokerToken: () => brokerIdp.sign({ sub: 'voidkey-broker', policy: 'client-policy' }),
  });

  it("a provider's roleArn is the default of its keys; a key's own roleArn wins", async () => {
    const provider = awsStsProvider.create({ name: 'aws', type: 'aws-sts', endpoint: aws.url, region: 'us-east-1', roleArn: ROLE }, { settings, http });
    await provider.mint(ctx({ provider: 'aws', roleArn: 'arn:aws:iam::111122223333:role/own', outputs: {} }));
    await provider.mint(ctx({ provider: 'aws', outputs: {} }, 7200));
    expect(aws.requests.map((r) => [r.params.RoleArn, r.params.DurationSeconds])).toEqual([
      ['arn:aws:iam::111122223333:role/own', '900'],
      [ROLE, '7200'],
    ]);
  });

  it('MinIO: a role that is an ARN is the RoleArn; a role or policy that is a name is not sent', async () => {
    const provider = minioStsProvider.create({ name: 'minio', type: 'minio-sts', endpoint: minio.url }, { settings, http });
    const document = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::b/*'] }] };
    await provider.mint(ctx({ provider: 'minio', role: MINIO_ROLE, policy: document, outputs: {} })); // control: both sent
    await provider.mint(ctx({ provider: 'minio', role: 'client-policy', outputs: {} }));
    await provider.mint(ctx({ provider: 'minio', policy: 'client-policy', outputs: {} }));
    expect(minio.requests.map((r) => [r.params.RoleArn, r.params.Policy])).toEqual([
      [MINIO_ROLE, JSON.stringify(document)],
      [undefined, undefined],
      [undefined, undefined],
    ]);
    expect(minio.issued).toHaveLength(3);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('roleSessionName', () => {
  it('keeps a subject AWS accepts as it is', () => {
    expect(roleSessionName('ci-runner.42@acme')).toBe('ci-runner.42@acme');
  });

  it('never gives two subjects the same name when sanitising changes the text', () => {
    const subjects = ['repo:acme/app', 'repo-acme-app', 'repo:acme:app', 'repo/acme/app', 'repo acme app', 'x', 'é', `${'a'.repeat(64)}:1`, `${'a'.repeat(64)}:2`, 'a'.repeat(65)];
    const names = subjects.map(roleSessionName);
    expect(new Set(names).size).toBe(subjects.length);
    for (const name of names) expect(name).toMatch(/^[\w+=,.@-]{2,64}$/);
    expect(names[1]).toBe('repo-acme-app'); // valid: unchanged
    expect(names[0]).toMatch(/^repo-acme-app-[0-9a-f]{8}$/);
  });
});
