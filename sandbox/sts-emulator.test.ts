import { randomBytes } from 'node:crypto';
import {
  AssumeRoleCommand,
  AssumeRoleWithWebIdentityCommand,
  STSClient,
  type AssumeRoleWithWebIdentityCommandInput,
} from '@aws-sdk/client-sts';
import { XMLParser } from 'fast-xml-parser';
import { startStsEmulator, type StsEmulator } from './sts-emulator';
import { startTokenIssuer, type TokenIssuer } from './token-issuer';

const ROLE_ARN = 'arn:aws:iam::123456789012:role/deploy';
const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/*' }] });

interface SdkError {
  readonly name: string;
  readonly message: string;
  readonly $metadata: { readonly httpStatusCode?: number; readonly requestId?: string };
}

async function sdkError(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (error) {
    return error as SdkError;
  }
  throw new Error('expected the SDK call to fail');
}

const xml = new XMLParser({ ignoreAttributes: false, parseTagValue: false });

function stsClient(endpoint: string, options: { maxAttempts?: number; sessionToken?: string } = {}): STSClient {
  return new STSClient({
    endpoint,
    region: 'us-east-1',
    maxAttempts: options.maxAttempts ?? 1,
    // AssumeRoleWithWebIdentity is sent unsigned; AssumeRole needs credentials to sign with.
    credentials: {
      accessKeyId: options.sessionToken === undefined ? 'AKIAIOSFODNN7EXAMPLE' : 'ASIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      sessionToken: options.sessionToken,
    },
  });
}

const SOURCE_IDENTITY = 'https://aws.amazon.com/source_identity';
const TAGS = 'https://aws.amazon.com/tags';

describe('startStsEmulator (flavor aws) with the real @aws-sdk/client-sts', () => {
  let issuer: TokenIssuer;
  let sts: StsEmulator;
  let client: STSClient;

  beforeAll(async () => {
    issuer = await startTokenIssuer({ audience: 'sts.amazonaws.com' });
    sts = await startStsEmulator({
      trust: {
        issuer: issuer.issuer,
        jwksUri: issuer.jwksUri,
        audience: 'sts.amazonaws.com',
        condition: (claims) => claims.sub !== 'repo:evil/app:ref:refs/heads/main',
      },
    });
    client = stsClient(sts.url);
  });
  afterAll(async () => {
    client.destroy();
    await sts.close();
    await issuer.close();
  });
  afterEach(() => {
    sts.reset();
    issuer.clearFaults();
  });

  const assume = async (input: Partial<AssumeRoleWithWebIdentityCommandInput> = {}, via: STSClient = client) =>
    via.send(new AssumeRoleWithWebIdentityCommand({
      RoleArn: ROLE_ARN,
      RoleSessionName: 'voidkey-run-1',
      WebIdentityToken: await issuer.githubToken(),
      ...input,
    }));

  it('mints credentials for a verified token and records the Query request', async () => {
    const before = Date.now();
    const result = await assume({
      DurationSeconds: 900,
      Policy: POLICY,
      PolicyArns: [{ arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }],
    });

    expect(result.Credentials?.AccessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(result.Credentials?.SecretAccessKey).toHaveLength(40);
    expect(result.Credentials?.SessionToken?.length).toBeGreaterThan(100);
    const expiresIn = result.Credentials!.Expiration!.getTime() - before;
    expect(expiresIn).toBeGreaterThan(898_000);
    expect(expiresIn).toBeLessThanOrEqual(901_000);
    expect(result).toMatchObject({
      SubjectFromWebIdentityToken: 'repo:acme/app:ref:refs/heads/main',
      Audience: 'sts.amazonaws.com',
      AssumedRoleUser: { Arn: 'arn:aws:sts::123456789012:assumed-role/deploy/voidkey-run-1', AssumedRoleId: expect.stringMatching(/^AROA[A-Z2-7]{17}:voidkey-run-1$/) },
      Provider: expect.stringMatching(/^arn:aws:iam::123456789012:oidc-provider\/127\.0\.0\.1:\d+$/),
      PackedPolicySize: expect.any(Number),
    });
    expect(result.$metadata.httpStatusCode).toBe(200);

    expect(sts.calls).toBe(1);
    expect(sts.requests[0]).toMatchObject({
      action: 'AssumeRoleWithWebIdentity',
      method: 'POST',
      url: '/',
      signed: false,
      params: {
        Version: '2011-06-15',
        RoleArn: ROLE_ARN,
        RoleSessionName: 'voidkey-run-1',
        DurationSeconds: '900',
        Policy: POLICY,
        'PolicyArns.member.1.arn': 'arn:aws:iam::aws:policy/ReadOnlyAccess',
      },
    });
    expect(sts.issued[0]).toMatchObject({ accessKeyId: result.Credentials?.AccessKeyId, roleArn: ROLE_ARN, subject: 'repo:acme/app:ref:refs/heads/main' });
  });

  it('answers on the wire exactly like STS: XML namespace, request id header and body', async () => {
    const body = new URLSearchParams({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: ROLE_ARN,
      RoleSessionName: 'wire',
      WebIdentityToken: await issuer.githubToken(),
    });
    const ok = await fetch(sts.url, { method: 'POST', body });
    const okXml = xml.parse(await ok.text());

    expect(ok.headers.get('content-type')).toBe('text/xml');
    const response = okXml.AssumeRoleWithWebIdentityResponse;
    expect(response['@_xmlns']).toBe('https://sts.amazonaws.com/doc/2011-06-15/');
    expect(response.ResponseMetadata.RequestId).toBe(ok.headers.get('x-amzn-requestid'));
    expect(response.AssumeRoleWithWebIdentityResult.Credentials.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    body.set('RoleSessionName', 'x');
    const bad = await fetch(sts.url, { method: 'POST', body });
    const error = xml.parse(await bad.text()).ErrorResponse;
    expect(bad.status).toBe(400);
    expect(error.Error).toEqual({
      Type: 'Sender',
      Code: 'ValidationError',
      Message: "1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2",
    });
    expect(error.RequestId).toBe(bad.headers.get('x-amzn-requestid'));
  });

  describe('verifies the web identity token against the trusted issuer', () => {
    it('control: a well-formed token from the trusted issuer is accepted', async () => {
      await expect(assume()).resolves.toMatchObject({ $metadata: { httpStatusCode: 200 } });
    });

    it("control: the token's source_identity and principal tags, within AWS's limits, become the session's", async () => {
      const token = await issuer.githubToken({ [SOURCE_IDENTITY]: 'octocat', [TAGS]: { principal_tags: { repo: ['acme/app'], ...Object.fromEntries(Array.from({ length: 49 }, (_, i) => [`k${i}`, ['v']])) }, transitive_tag_keys: ['repo'] } } as Record<string, unknown>);
      await expect(assume({ WebIdentityToken: token })).resolves.toMatchObject({ SourceIdentity: 'octocat' });
      expect(sts.issued[0]).toMatchObject({ sourceIdentity: 'octocat', tags: { repo: 'acme/app' }, transitiveTagKeys: ['repo'] });
    });

    it.each<[string, () => Promise<string>, string, number, RegExp]>([
      ['an expired token', () => issuer.githubToken({}, { iat: Math.floor(Date.now() / 1000) - 900 }), 'ExpiredTokenException', 400, /Token expired/],
      ['the wrong audience', () => issuer.githubToken({ aud: 'https://broker.example.com' }), 'InvalidIdentityTokenException', 400, /Incorrect token audience/],
      ['an unknown issuer', () => issuer.githubToken({ iss: 'https://elsewhere.example.com' }), 'InvalidIdentityTokenException', 400, /No OpenIDConnect provider/],
      ['a key the issuer never published', async () => issuer.githubToken({}, { key: await issuer.generateKey({ kid: issuer.activeKey.kid }) }), 'InvalidIdentityTokenException', 400, /signature/],
      ['alg none', () => Promise.resolve(issuer.unsignedToken()), 'InvalidIdentityTokenException', 400, /./],
      ['something that is not a JWT', () => Promise.resolve('not-a-jwt'), 'InvalidIdentityTokenException', 400, /not a valid JWT/],
      ['a subject the trust policy refuses', () => issuer.githubToken({ repository: 'evil/app' }), 'AccessDenied', 403, /Not authorized to perform sts:AssumeRoleWithWebIdentity/],
      ['a source_identity starting with aws:', () => issuer.githubToken({ [SOURCE_IDENTITY]: 'aws:octocat' } as Record<string, unknown>), 'InvalidIdentityTokenException', 400, /invalid source_identity claim/],
      ['a source_identity over 64 characters', () => issuer.githubToken({ [SOURCE_IDENTITY]: 'a'.repeat(65) } as Record<string, unknown>), 'InvalidIdentityTokenException', 400, /invalid source_identity claim/],
      ['51 principal tags', () => issuer.githubToken({ [TAGS]: { principal_tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, ['v']])) } } as Record<string, unknown>), 'InvalidIdentityTokenException', 400, /more than 50 principal tags/],
      ['a tag value that is not a one-element list', () => issuer.githubToken({ [TAGS]: { principal_tags: { repo: 'acme/app' } } } as Record<string, unknown>), 'InvalidIdentityTokenException', 400, /invalid value of principal tag repo/],
      ['a tag value over 256 characters', () => issuer.githubToken({ [TAGS]: { principal_tags: { repo: ['a'.repeat(257)] } } } as Record<string, unknown>), 'InvalidIdentityTokenException', 400, /invalid value of principal tag repo/],
      ['a transitive key that is no tag', () => issuer.githubToken({ [TAGS]: { principal_tags: { repo: ['a'] }, transitive_tag_keys: ['team'] } } as Record<string, unknown>), 'InvalidIdentityTokenException', 400, /transitive_tag_keys must name principal tags/],
    ])('rejects %s', async (_case, token, name, status, message) => {
      const error = await sdkError(assume({ WebIdentityToken: await token() }));
      expect(error.name).toBe(name);
      expect(error.$metadata.httpStatusCode).toBe(status);
      expect(error.message).toMatch(message);
      expect(sts.issued).toHaveLength(0);
    });

    it("reports an unreachable JWKS as InvalidIdentityToken \"Couldn't retrieve verification key\"", async () => {
      const rotated = await startTokenIssuer({ audience: 'sts.amazonaws.com' });
      const isolated = await startStsEmulator({ trust: { issuer: rotated.issuer, jwksUri: rotated.jwksUri, audience: 'sts.amazonaws.com' } });
      const via = stsClient(isolated.url);
      try {
        rotated.failJwks(1, 503);
        const error = await sdkError(via.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: ROLE_ARN, RoleSessionName: 's1', WebIdentityToken: await rotated.githubToken() })));
        expect(error.name).toBe('InvalidIdentityTokenException');
        expect(error.message).toMatch(/Couldn't retrieve verification key/);
        await expect(via.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: ROLE_ARN, RoleSessionName: 's1', WebIdentityToken: await rotated.githubToken() }))).resolves.toBeDefined();
      } finally {
        via.destroy();
        await isolated.close();
        await rotated.close();
      }
    });
  });

  describe('validates input like STS', () => {
    it('control: the largest valid inputs are accepted', async () => {
      await expect(assume({ RoleSessionName: 'a'.repeat(64), DurationSeconds: 3600 })).resolves.toBeDefined();
    });

    it.each<[string, Partial<AssumeRoleWithWebIdentityCommandInput>, string, RegExp]>([
      ['a session name with a space', { RoleSessionName: 'bad name' }, 'ValidationError', /roleSessionName.*regular expression pattern: \[\\w\+=,\.@-\]\*/],
      ['a 65-character session name', { RoleSessionName: 'a'.repeat(65) }, 'ValidationError', /less than or equal to 64/],
      ['DurationSeconds below 900', { DurationSeconds: 899 }, 'ValidationError', /durationSeconds.*greater than or equal to 900/],
      ['DurationSeconds above 43200', { DurationSeconds: 43_201 }, 'ValidationError', /less than or equal to 43200/],
      ['DurationSeconds above the role maximum', { DurationSeconds: 7200 }, 'ValidationError', /exceeds the MaxSessionDuration/],
      ['a malformed role ARN', { RoleArn: 'arn:aws:iam::123:role/deploy-role' }, 'ValidationError', /Request ARN is invalid/],
      ['a policy over 2048 characters', { Policy: `{"x":"${'y'.repeat(2100)}"}` }, 'ValidationError', /policy.*less than or equal to 2048/],
      ['eleven policy ARNs', { PolicyArns: Array.from({ length: 11 }, (_, n) => ({ arn: `arn:aws:iam::aws:policy/P${n}xxxxxxxxxxxxxx` })) }, 'ValidationError', /policyArns.*less than or equal to 10/],
      ['a policy that is not JSON', { Policy: '{"Version":' }, 'MalformedPolicyDocumentException', /not in the valid JSON format/],
      ['a policy without statements', { Policy: '{"Version":"2012-10-17"}' }, 'MalformedPolicyDocumentException', /Syntax errors/],
      [
        'a policy too large once packed',
        { Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: randomBytes(1400).toString('base64').slice(0, 1900) }] }) },
        'PackedPolicyTooLargeException',
        /Packed policy consumes \d+% of allotted space/,
      ],
    ])('rejects %s', async (_case, input, name, message) => {
      const error = await sdkError(assume(input));
      expect(error.name).toBe(name);
      expect(error.$metadata.httpStatusCode).toBe(400);
      expect(error.message).toMatch(message);
    });

    it('collects every violated constraint into one ValidationError', async () => {
      const error = await sdkError(assume({ RoleSessionName: 'x', DurationSeconds: 60 }));
      expect(error.message).toMatch(/^2 validation errors detected: .*roleSessionName.*; .*durationSeconds/);
    });
  });

  describe('switchable faults', () => {
    it.each<[string, string, number]>([
      ['InvalidIdentityToken', 'InvalidIdentityTokenException', 400],
      ['ExpiredTokenException', 'ExpiredTokenException', 400],
      ['IDPCommunicationError', 'IDPCommunicationErrorException', 400],
      ['IDPRejectedClaim', 'IDPRejectedClaimException', 403],
      ['MalformedPolicyDocument', 'MalformedPolicyDocumentException', 400],
      ['PackedPolicyTooLarge', 'PackedPolicyTooLargeException', 400],
      ['RegionDisabledException', 'RegionDisabledException', 403],
      ['AccessDenied', 'AccessDenied', 403],
      ['ValidationError', 'ValidationError', 400],
      ['Throttling', 'Throttling', 400],
    ])('failNext %s surfaces in the SDK as %s (%i), then the next call succeeds', async (code, name, status) => {
      sts.failNext(1, { code, message: `scripted ${code}` });
      const error = await sdkError(assume());
      expect(error.name).toBe(name);
      expect(error.message).toBe(`scripted ${code}`);
      expect(error.$metadata.httpStatusCode).toBe(status);
      await expect(assume()).resolves.toBeDefined();
    });

    it('throttling is retried by the SDK when it may retry', async () => {
      const retrying = stsClient(sts.url, { maxAttempts: 3 });
      try {
        sts.failNext(2, { code: 'Throttling', message: 'Rate exceeded' });
        const result = await assume({}, retrying);
        expect(result.$metadata.attempts).toBe(3);
        expect(sts.calls).toBe(3);
      } finally {
        retrying.destroy();
      }
    });

    it('failNext takes an explicit status', async () => {
      sts.failNext(1, { code: 'ServiceUnavailable', message: 'down', status: 503 });
      const error = await sdkError(assume());
      expect(error.$metadata.httpStatusCode).toBe(503);
    });

    it('hangNext never answers; close() still returns promptly', async () => {
      const local = await startStsEmulator();
      const via = stsClient(local.url);
      try {
        local.hangNext(1);
        const error = await sdkError(via.send(
          new AssumeRoleWithWebIdentityCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'hang', WebIdentityToken: await issuer.githubToken() }),
          { abortSignal: AbortSignal.timeout(200) },
        ));
        expect(error.name).toBe('AbortError');
        expect(local.calls).toBe(1);
        local.hangNext(1);
        const pending = via.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'hang', WebIdentityToken: await issuer.githubToken() }));
        await new Promise((resolve) => setTimeout(resolve, 50));
        const started = Date.now();
        await local.close();
        expect(Date.now() - started).toBeLessThan(500);
        expect((await sdkError(pending)).message).toMatch(/socket hang up|ECONNRESET/);
      } finally {
        via.destroy();
        await local.close();
      }
    });

    it('delayNext answers normally after the delay', async () => {
      sts.delayNext(1, 200);
      const started = Date.now();
      await expect(assume()).resolves.toBeDefined();
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    });

    it('respondNext sends garbage verbatim', async () => {
      sts.respondNext(1, { status: 200, body: 'this is not xml' });
      const garbage = await sdkError(assume());
      expect(garbage.message).toMatch(/XML parse error|Deserialization error/);
      expect(garbage.$metadata.httpStatusCode).toBe(200);

      sts.respondNext(1, { status: 502, body: '<html><body>Bad Gateway</body></html>', contentType: 'text/html' });
      const html = await sdkError(assume());
      expect(html.$metadata.httpStatusCode).toBe(502);

      sts.respondNext(1, { status: 200, body: '' });
      expect((await assume()).Credentials).toBeUndefined();

      await expect(assume()).resolves.toMatchObject({ Credentials: { AccessKeyId: expect.any(String) } });
    });

    it('reset forgets requests, credentials and pending faults', async () => {
      await assume();
      sts.failNext('always', { code: 'Throttling' });
      sts.reset();
      expect([sts.calls, sts.requests.length, sts.issued.length]).toEqual([0, 0, 0]);
      await expect(assume()).resolves.toBeDefined();
    });
  });

  describe('AssumeRole (SigV4-signed)', () => {
    it('mints for a signed request with tags, and records the Authorization header', async () => {
      const result = await client.send(new AssumeRoleCommand({
        RoleArn: ROLE_ARN,
        RoleSessionName: 'broker',
        DurationSeconds: 1800,
        Tags: [{ Key: 'repository', Value: 'acme/app' }],
        TransitiveTagKeys: ['repository'],
        SourceIdentity: 'repo-acme-app',
      }));

      expect(result.Credentials?.AccessKeyId).toMatch(/^ASIA/);
      expect(result).toMatchObject({ SourceIdentity: 'repo-acme-app', AssumedRoleUser: { Arn: 'arn:aws:sts::123456789012:assumed-role/deploy/broker' } });
      expect(sts.requests[0]).toMatchObject({
        action: 'AssumeRole',
        signed: true,
        params: { 'Tags.member.1.Key': 'repository', 'Tags.member.1.Value': 'acme/app', 'TransitiveTagKeys.member.1': 'repository' },
      });
      expect(sts.requests[0].headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\//);
    });

    it('rejects an unsigned AssumeRole, tag and SourceIdentity violations, and chained sessions over an hour', async () => {
      const unsigned = await fetch(sts.url, {
        method: 'POST',
        body: new URLSearchParams({ Action: 'AssumeRole', Version: '2011-06-15', RoleArn: ROLE_ARN, RoleSessionName: 'x1' }),
      });
      expect(unsigned.status).toBe(403);
      expect(await unsigned.text()).toContain('<Code>MissingAuthenticationToken</Code>');

      const tooManyTags = await sdkError(client.send(new AssumeRoleCommand({
        RoleArn: ROLE_ARN,
        RoleSessionName: 'broker',
        Tags: Array.from({ length: 51 }, (_, n) => ({ Key: `k${n}`, Value: 'v' })),
      })));
      expect(tooManyTags.name).toBe('ValidationError');

      const reserved = await sdkError(client.send(new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'broker', SourceIdentity: 'aws:me' })));
      expect(reserved.message).toMatch(/aws:/);

      const chained = stsClient(sts.url, { sessionToken: 'FwoGZXIvYXdzEXAMPLE' });
      try {
        await expect(chained.send(new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'hop', DurationSeconds: 3600 }))).resolves.toBeDefined();
        const error = await sdkError(chained.send(new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'hop', DurationSeconds: 3601 })));
        expect(error.message).toMatch(/role chaining/);
      } finally {
        chained.destroy();
      }
    });
  });
});

describe('startStsEmulator (flavor minio)', () => {
  let issuer: TokenIssuer;

  beforeAll(async () => {
    issuer = await startTokenIssuer({ audience: 'minio-client' });
  });
  afterAll(() => issuer.close());

  const trust = () => ({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: 'minio-client' });

  describe('claim-based provider', () => {
    let minio: StsEmulator;
    let client: STSClient;
    beforeAll(async () => {
      minio = await startStsEmulator({ flavor: 'minio', trust: trust() });
      client = stsClient(minio.url);
    });
    afterAll(async () => {
      client.destroy();
      await minio.close();
    });

    const assume = async (claims: Record<string, unknown>, input: Partial<AssumeRoleWithWebIdentityCommandInput> = {}) =>
      client.send(new AssumeRoleWithWebIdentityCommand({
        RoleArn: 'arn:minio:iam:::role/ignored',
        RoleSessionName: 'ignored',
        WebIdentityToken: await issuer.sign({ sub: 'repo:acme/app', ...claims }),
        ...input,
      }));

    it('mints MinIO-shaped credentials through the AWS SDK, for durations past AWS limits', async () => {
      const result = await assume({ policy: 'readwrite' }, { DurationSeconds: 7 * 24 * 3600 });

      expect(result.Credentials?.AccessKeyId).toMatch(/^[A-Z0-9]{20}$/);
      expect(result.Credentials?.SecretAccessKey).toHaveLength(40);
      expect(result.Credentials?.SessionToken?.split('.')).toHaveLength(3);
      expect(result.Credentials!.Expiration!.getTime() - Date.now()).toBeGreaterThan(7 * 24 * 3600 * 1000 - 5000);
      expect(result.SubjectFromWebIdentityToken).toBe('repo:acme/app');
    });

    it('answers with MinIO’s XML and request id header', async () => {
      const response = await fetch(minio.url, {
        method: 'POST',
        body: new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', WebIdentityToken: await issuer.sign({ sub: 's', policy: 'p' }) }),
      });
      const document = xml.parse(await response.text()).AssumeRoleWithWebIdentityResponse;

      expect(response.headers.get('content-type')).toBe('application/xml');
      expect(response.headers.get('x-amz-request-id')).toMatch(/^[0-9A-F]{16}$/);
      expect(document['@_xmlns']).toBe('https://sts.amazonaws.com/doc/2011-06-15/');
      expect(document.ResponseMetadata.RequestId).toBe(response.headers.get('x-amz-request-id'));
      expect(document.AssumeRoleWithWebIdentityResult.AssumedRoleUser).toEqual({ Arn: '', AssumeRoleId: '' });
    });

    it.each<[string, Record<string, unknown>, Partial<AssumeRoleWithWebIdentityCommandInput>, string, RegExp]>([
      ['no policy claim', {}, {}, 'InvalidParameterValue', /policy claim missing/],
      ['a duration over 365 days', { policy: 'p' }, { DurationSeconds: 365 * 24 * 3600 + 1 }, 'InvalidParameterValue', /invalid token expiry/],
      ['a session policy without Version', { policy: 'p' }, { Policy: '{"Statement":[]}' }, 'InvalidParameterValue', /Version cannot be empty/],
      ['an expired token', { policy: 'p', exp: Math.floor(Date.now() / 1000) - 10 }, {}, 'ExpiredToken', /expired/],
      ['the wrong audience', { policy: 'p', aud: 'someone-else' }, {}, 'InvalidParameterValue', /aud/],
    ])('rejects %s (with a passing control)', async (_case, claims, input, name, message) => {
      await expect(assume({ policy: 'p' })).resolves.toBeDefined();
      const error = await sdkError(assume(claims, input));
      expect(error.name).toBe(name);
      expect(error.$metadata.httpStatusCode).toBe(400);
      expect(error.message).toMatch(message);
    });

    it('rejects a wrong API version with MissingParameter', async () => {
      const response = await fetch(minio.url, { method: 'POST', body: new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2010-01-01' }) });
      const error = xml.parse(await response.text()).ErrorResponse.Error;
      expect(response.status).toBe(400);
      expect(error).toMatchObject({ Code: 'MissingParameter', Message: 'Invalid STS API version 2010-01-01, expecting 2011-06-15' });
    });
  });

  describe('role-policy provider', () => {
    const roleArn = 'arn:minio:iam:::role/dRTJ4eS8Y1Ro7Ge3tU5s2Pkm2sQ';
    let minio: StsEmulator;
    let client: STSClient;
    beforeAll(async () => {
      minio = await startStsEmulator({ flavor: 'minio', trust: trust(), minioRoleArn: roleArn });
      client = stsClient(minio.url);
    });
    afterAll(async () => {
      client.destroy();
      await minio.close();
    });

    it('requires its RoleArn, and needs no policy claim', async () => {
      const token = await issuer.sign({ sub: 'svc' });
      await expect(client.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: 'n/a', WebIdentityToken: token }))).resolves.toBeDefined();

      const error = await sdkError(client.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: 'arn:minio:iam:::role/other', RoleSessionName: 'n/a', WebIdentityToken: token })));
      expect(error.name).toBe('InvalidParameterValue');
      expect(error.message).toMatch(/RoleArn/);
    });
  });
});
