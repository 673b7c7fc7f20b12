import { AssumeRoleWithWebIdentityCommand, type AssumeRoleWithWebIdentityCommandInput } from '@aws-sdk/client-sts';
import { isBrokerError, type BrokerError, type KeyConfig, type MintContext } from '../../broker-core';
import { NodeHttpClient } from '../../broker-server/node-http-client';
import { checkCredentials, createStsClient, translateStsError, WebIdentityStsClient, type WebIdentityInput } from '../../providers/sts-common/sts-client';
import { STS_ERROR_STATUS, startStsEmulator, type StsEmulator, type StsFlavor } from '../../sandbox/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';

const ROLE = 'arn:aws:iam::111122223333:role/deploy';
const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: "arn:aws:s3:::b/it's (a) *!~" }] });

/**
 * The lean AssumeRoleWithWebIdentity client against `@aws-sdk/client-sts` as the oracle:
 * the same inputs through both, to the same emulator, must put the same request on the
 * wire, parse to the same credentials and fail with the same classification.
 */
describe.each<StsFlavor>(['aws', 'minio'])('lean STS client vs the AWS SDK (%s)', (flavor) => {
  const label = flavor === 'minio' ? 'MinIO STS' : 'AWS STS';
  let issuer: TokenIssuer;
  let sts: StsEmulator;
  const http = new NodeHttpClient();
  let token: string;

  beforeAll(async () => {
    issuer = await startTokenIssuer({ audience: 'voidkey-broker' });
    sts = await startStsEmulator({ flavor, maxSessionDuration: 43_200 });
    token = await issuer.sign({ sub: 'voidkey-broker', policy: 'readwrite' });
  });
  afterAll(async () => {
    await sts.close();
    await issuer.close();
    http.close();
  });
  beforeEach(() => sts.reset());

  const sdk = () => createStsClient({ endpoint: sts.url, region: 'us-east-1', timeoutMs: 2_000 });
  const lean = () => new WebIdentityStsClient({ endpoint: sts.url, region: 'us-east-1', timeoutMs: 2_000, http, flavor: label });
  const context: MintContext = {
    keyName: 'K',
    key: { provider: 'p', outputs: {} } as KeyConfig,
    durationSeconds: 900,
    subject: 's',
    idp: 'i',
    claims: {},
    requestId: 'r',
    signal: new AbortController().signal,
    deadline: Date.now() + 60_000,
    brokerToken: async () => token,
  };
  const input = (overrides: Partial<WebIdentityInput> = {}): WebIdentityInput => ({
    RoleArn: flavor === 'minio' ? undefined : ROLE,
    RoleSessionName: 'voidkey',
    WebIdentityToken: token,
    DurationSeconds: 900,
    ...overrides,
  });
  // MinIO's claim-based providers take no RoleArn, which the SDK's type requires but its serialiser does not.
  const sdkInput = (i: WebIdentityInput) => ({ ...i, PolicyArns: i.PolicyArns?.map(({ arn }) => ({ arn })) }) as AssumeRoleWithWebIdentityCommandInput;

  /** Sends through the SDK, then the lean client; returns both recorded requests and outcomes. */
  async function both(i: WebIdentityInput) {
    const first = sts.requests.length;
    const viaSdk = await sdk().send(new AssumeRoleWithWebIdentityCommand(sdkInput(i))).then(
      (output) => ({ ok: true as const, credentials: checkCredentials(output.Credentials, label) }),
      (err: unknown) => ({ ok: false as const, error: translateStsError(err, label) }),
    );
    const viaLean = await lean().assumeRoleWithWebIdentity(i, { ...context, durationSeconds: i.DurationSeconds }).then(
      (minted) => ({ ok: true as const, fields: minted.fields }),
      (err: unknown) => ({ ok: false as const, error: err as BrokerError }),
    );
    sts.clearFaults();
    // The lean client retries what is retryable (its budget); its first request is the one to compare.
    const [sdkRequest, leanRequest] = sts.requests.slice(first, first + 2);
    return { viaSdk, viaLean, sdkRequest: sdkRequest!, leanRequest: leanRequest! };
  }

  const wire = (r: StsEmulator['requests'][number]) => ({ method: r.method, url: r.url, contentType: r.headers['content-type'], body: r.body, params: r.params, signed: r.signed });
  const classification = (e: BrokerError) => ({ type: e.constructor.name, code: e.code, message: e.message, detail: e.detail?.replace(/ request [\w-]+$/, ''), retryAfterSeconds: e.retryAfterSeconds });

  it.each<[string, Partial<WebIdentityInput>]>([
    ['the minimal request', {}],
    ['a session policy with characters encodeURIComponent leaves alone', { Policy: POLICY }],
    ['policy ARNs', { PolicyArns: [{ arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }, { arn: 'arn:aws:iam::111122223333:policy/b' }] }],
    ['the longest duration', { DurationSeconds: 43_200 }],
    ['a session name at the edge of the character set', { RoleSessionName: 'a+=,.@-_Z9' }],
    ['a 64-character session name', { RoleSessionName: 'x'.repeat(64) }],
    ['every option at once', { Policy: POLICY, PolicyArns: [{ arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }], DurationSeconds: 3600, RoleSessionName: 'ci-octocat-42' }],
  ])('%s: the same request on the wire and the same credentials', async (_name, overrides) => {
    const i = input(overrides);
    // A fixed answer for both, with entities in it, so the parsed credentials can be compared.
    const expiration = `${new Date(Date.now() + i.DurationSeconds * 1000).toISOString().slice(0, 19)}Z`;
    const body = `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><SessionToken>IQo&amp;b+/=</SessionToken><SecretAccessKey>se&lt;cr&gt;et/+&quot;&apos;</SecretAccessKey><Expiration>${expiration}</Expiration><AccessKeyId>0123456789</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>abc</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`;
    await sdk().send(new AssumeRoleWithWebIdentityCommand(sdkInput(i))); // control: the emulator accepts the input for real
    sts.respondNext(2, { status: 200, body });
    const { viaSdk, viaLean, sdkRequest, leanRequest } = await both(i);
    expect(wire(leanRequest)).toEqual(wire(sdkRequest));
    expect(viaSdk.ok && viaLean.ok).toBe(true);
    if (!viaSdk.ok || !viaLean.ok) return;
    expect(viaLean.fields).toEqual({
      AccessKeyId: viaSdk.credentials.AccessKeyId,
      SecretAccessKey: viaSdk.credentials.SecretAccessKey,
      SessionToken: viaSdk.credentials.SessionToken,
      Expiration: viaSdk.credentials.Expiration.toISOString(),
    });
    expect(viaLean.fields.SecretAccessKey).toBe('se<cr>et/+"\'');
  });

  const codes = Object.keys(STS_ERROR_STATUS[flavor]).filter((code) => code !== 'MissingAuthenticationToken');
  it.each([
    ...codes.map((code) => [code, { code }] as const),
    ['an unknown code with a 400', { code: 'SomethingNew', status: 400 }] as const,
    ['an unknown code with a 502', { code: 'SomethingNew', status: 502 }] as const,
  ])('%s: the same classification', async (_name, fault) => {
    sts.failNext('always', { ...fault, message: 'canary-upstream-text' });
    const { viaSdk, viaLean, sdkRequest, leanRequest } = await both(input());
    expect(wire(leanRequest)).toEqual(wire(sdkRequest));
    expect(viaSdk.ok || viaLean.ok).toBe(false);
    if (viaSdk.ok || viaLean.ok) return;
    expect(isBrokerError(viaLean.error)).toBe(true);
    expect(classification(viaLean.error)).toEqual(classification(viaSdk.error));
    expect(JSON.stringify(classification(viaLean.error))).not.toContain('canary-upstream-text');
    // The SDK client makes one call; the lean client's budget: 3 for what is retryable, else 1.
    expect(sts.calls).toBe(1 + (viaSdk.error.code === 'ERR_PROVIDER_UNAVAILABLE' ? 3 : 1));
  });

  it.each([
    ['HTML', { status: 503, body: '<html><body>Service Unavailable</body></html>', contentType: 'text/html' }],
    ['an empty 500', { status: 500, body: '' }],
    ['an empty 403', { status: 403, body: '' }],
  ])('a non-STS error answer (%s): the same classification', async (_name, response) => {
    sts.respondNext('always', response);
    const { viaSdk, viaLean } = await both(input());
    expect(viaSdk.ok || viaLean.ok).toBe(false);
    if (viaSdk.ok || viaLean.ok) return;
    expect(classification(viaLean.error)).toEqual(classification(viaSdk.error));
  });
});

describe('lean STS client: endpoint resolution as the SDK does it', () => {
  const saved = process.env.AWS_ENDPOINT_URL_STS;
  let chosen: StsEmulator;
  let ignored: StsEmulator;
  let issuer: TokenIssuer;
  const http = new NodeHttpClient();
  beforeAll(async () => {
    issuer = await startTokenIssuer({ audience: 'voidkey-broker' });
    [chosen, ignored] = await Promise.all([startStsEmulator(), startStsEmulator()]);
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_STS;
    else process.env.AWS_ENDPOINT_URL_STS = saved;
    await Promise.all([chosen.close(), ignored.close(), issuer.close()]);
    http.close();
  });

  const mint = async (endpoint: string | undefined) => {
    const client = new WebIdentityStsClient({ endpoint, region: 'us-east-1', timeoutMs: 2_000, http, flavor: 'AWS STS' });
    const token = await issuer.sign({ sub: 'voidkey-broker' });
    return client.assumeRoleWithWebIdentity(
      { RoleArn: ROLE, RoleSessionName: 'voidkey', WebIdentityToken: token, DurationSeconds: 900 },
      { signal: new AbortController().signal, deadline: Date.now() + 10_000, durationSeconds: 900 } as MintContext,
    );
  };

  it('uses AWS_ENDPOINT_URL_STS when the provider sets no endpoint, and the provider endpoint over it', async () => {
    process.env.AWS_ENDPOINT_URL_STS = chosen.url;
    await mint(undefined);
    expect([chosen.calls, ignored.calls]).toEqual([1, 0]);
    process.env.AWS_ENDPOINT_URL_STS = chosen.url;
    await mint(ignored.url);
    expect([chosen.calls, ignored.calls]).toEqual([1, 1]);
  });
});
