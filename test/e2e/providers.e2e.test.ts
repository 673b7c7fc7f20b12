import { startEntraEmulator, type EntraEmulator } from '../../sandbox/entra-emulator';
import { startGcpEmulator, type GcpEmulator } from '../../sandbox/gcp-emulator';
import { mintAsMain, startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

const WIP = '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-pool/providers/voidkey';
const SA = 'deployer@acme-prod.iam.gserviceaccount.com';
const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

/** All four providers through the real server, in one request, with the real SDKs inside. */
describe('AWS, MinIO, GCP and Azure in one mint', () => {
  let sandbox: Sandbox;
  let gcp: GcpEmulator;
  let entra: EntraEmulator;

  beforeAll(async () => {
    // The GCP and Entra emulators trust the broker's IdP, which the sandbox creates; the
    // broker is then restarted on a config that adds both clouds.
    sandbox = await startSandbox();
    const trust = { issuer: sandbox.brokerIdp.issuer, jwksUri: sandbox.brokerIdp.jwksUri };
    gcp = await startGcpEmulator({
      trust,
      workloadIdentityProvider: WIP,
      serviceAccounts: { [SA]: { members: [`principal://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-pool/subject/voidkey-broker`] } },
    });
    entra = await startEntraEmulator({
      trust: { ...trust, audience: 'api://AzureADTokenExchange' },
      federatedCredentials: [{ tenantId: TENANT, clientId: CLIENT, issuer: sandbox.brokerIdp.issuer, subject: 'voidkey-broker' }],
    });
    const config = sandbox.config
      .replace(
        'clientIdentities:',
        `  - name: gcp-prod
    type: gcp
    workloadIdentityProvider: ${WIP}
    stsEndpoint: ${gcp.stsEndpoint}
    iamCredentialsEndpoint: ${gcp.iamCredentialsEndpoint}
  - name: azure-prod
    type: azure
    tenantId: ${TENANT}
    authorityHost: ${entra.authorityHost}
    caFile: ${entra.caFile}
clientIdentities:`,
      )
      .replace(
        '  - name: app-any-branch',
        `      GCP_DEPLOY:
        provider: gcp-prod
        serviceAccount: ${SA}
        duration: 1800
        outputs:
          GOOGLE_OAUTH_ACCESS_TOKEN: AccessToken
          GOOGLE_CLOUD_PROJECT: ProjectId
      AZURE_DEPLOY:
        provider: azure-prod
        clientId: ${CLIENT}
        scope: https://management.azure.com/.default
        outputs:
          AZURE_ACCESS_TOKEN: AccessToken
          AZURE_TENANT_ID: TenantId
  - name: app-any-branch`,
      );
    await sandbox.restartBroker(config);
  });
  afterAll(async () => {
    await sandbox?.close();
    await gcp?.close();
    await entra?.close();
  });

  type Answer = Record<string, { credentials?: Record<string, string>; error?: string; metadata?: Record<string, unknown> }> & { keys?: Record<string, { error: string }> };
  const mint = (keys: string[]) => mintAsMain<Answer>(sandbox, keys);

  it('mints four keys from four clouds in parallel', async () => {
    const response = await mint(['AWS_DEPLOY', 'ARTIFACTS', 'GCP_DEPLOY', 'AZURE_DEPLOY']);
    expect(response.status).toBe(200);
    expect(Object.keys(response.body).sort()).toEqual(['ARTIFACTS', 'AWS_DEPLOY', 'AZURE_DEPLOY', 'GCP_DEPLOY']);
    expect(response.body.GCP_DEPLOY!.credentials).toEqual({ GOOGLE_OAUTH_ACCESS_TOKEN: gcp.issued.at(-1)!.accessToken, GOOGLE_CLOUD_PROJECT: 'acme-prod' });
    expect(response.body.AZURE_DEPLOY!.credentials).toEqual({ AZURE_ACCESS_TOKEN: entra.issued.at(-1)!.accessToken, AZURE_TENANT_ID: TENANT });
    const iam = gcp.requests.find((r) => r.endpoint === 'generateAccessToken')!;
    expect(iam.serviceAccount).toBe(SA);
    expect(iam.json).toMatchObject({ lifetime: '1800s' });
    const token = entra.requests.find((r) => r.endpoint === 'token')!;
    expect(token.form).toMatchObject({ client_id: CLIENT, scope: 'https://management.azure.com/.default', grant_type: 'client_credentials' });
  });

  it('delivers nothing when one provider fails, and names each key (decision 3)', async () => {
    entra.failNext('token', { status: 400, body: { error: 'invalid_client', error_description: 'AADSTS700211: No matching federated identity record found', error_codes: [700211] } });
    const response = await mint(['AWS_DEPLOY', 'GCP_DEPLOY', 'AZURE_DEPLOY']);
    expect(response.status).toBe(502);
    expect(response.body).toMatchObject({ error: 'mint_failed', keys: { AZURE_DEPLOY: { error: 'provider_rejected' } } });
    expect(JSON.stringify(response.body)).not.toMatch(/AADSTS|ya29|ASIA|eyJ/);
    // The audit line is written before the answer, but reaches this process through a pipe.
    let audit: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !audit; i++) {
      audit = sandbox.broker.auditEvents().find((event) => event.requestId === response.requestId);
      if (!audit) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(audit).toMatchObject({ outcome: 'failed', reason: 'mint_failed', failures: { AZURE_DEPLOY: { reason: 'provider_rejected' } } });
    expect((audit!.undelivered as Array<{ key: string }>).map((c) => c.key).sort()).toEqual(['AWS_DEPLOY', 'GCP_DEPLOY']);
  });
});
