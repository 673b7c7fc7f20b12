import { mintAsMain, startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

/** Voidkey's brokerAuth.expectedIssuer / expectedAudience, checked by the core for every provider. */
describe('brokerAuth expectations', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({
      transformConfig: (config) =>
        config
          .replace('    defaultDuration: 900\n', '    defaultDuration: 900\n    brokerAuth:\n      expectedAudience: voidkey-broker\n')
          .replace(/( {2}- name: minio-sandbox\n {4}type: minio-sts\n {4}endpoint: \S+\n)/, '$1    brokerAuth:\n      expectedIssuer: https://another-idp.example.com\n'),
    });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  const mint = (keys: string[]) => mintAsMain(sandbox, keys);

  it('mints when the broker token meets the provider expectations (positive control)', async () => {
    expect((await mint(['AWS_DEPLOY'])).status).toBe(200);
  });

  it('refuses to present a broker token from an unexpected issuer, before calling the cloud', async () => {
    const response = await mint(['ARTIFACTS']);
    expect(response.status).toBe(502);
    expect(response.body.error).toBe('broker_auth_failed');
    expect(sandbox.minio.calls).toBe(0);
  });
});
