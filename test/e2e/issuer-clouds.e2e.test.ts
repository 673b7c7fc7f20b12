import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { decodeJwt, type JWTPayload } from 'jose';
import { runCli } from '../../sandbox/broker-process';
import { startEntraEmulator, type EntraEmulator } from '../../sandbox/entra-emulator';
import { startGcpEmulator, type GcpEmulator } from '../../sandbox/gcp-emulator';
import { startStsEmulator, type StsEmulator } from '../../sandbox/sts-emulator';
import { ROLE_DEPLOY } from '../../sandbox/sandbox-config';
import { mintAsMain, startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(90_000);

const WIP = '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-pool/providers/voidkey';
const SA = 'deployer@acme-prod.iam.gserviceaccount.com';
const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

interface Trust {
  issuer: string;
  subject: string;
  audience: string;
  aws?: { trustPolicy: { Statement: Array<{ Principal: { Federated: string }; Action: string[]; Condition: { StringEquals: Record<string, string> } }> } };
  gcp?: { attributeMapping: Record<string, string>; allowedAudiences: string[]; principal: string };
  azure?: { federatedCredential: { issuer: string; subject: string; audiences: string[] } };
}

/** An IAM trust policy's StringEquals on `<host>:sub` / `<host>:aud`, as AWS evaluates it for web identity. */
function policyCondition(trust: Trust): (claims: JWTPayload) => boolean {
  const conditions = trust.aws!.trustPolicy.Statement[0]!.Condition.StringEquals;
  return (claims) =>
    Object.entries(conditions).every(([name, value]) => {
      const claim = claims[name.slice(name.lastIndexOf(':') + 1)];
      return Array.isArray(claim) ? claim.includes(value) : claim === value;
    });
}

/**
 * `voidkey issuer trust` and `voidkey issuer jwks` outputs, fed to the emulators that
 * enforce them; then mints through GCP, Azure and AWS (trust policy) with tokenSource self.
 */
describe('the broker as issuer for GCP, Azure and an AWS trust policy, set up from the CLI\'s own output', () => {
  let sandbox: Sandbox;
  let gcp: GcpEmulator;
  let gcpPrivate: GcpEmulator;
  let entra: EntraEmulator;
  let aws: StsEmulator;
  const configFile = join(tmpdir(), `voidkey-issuer-clouds-${process.pid}.yaml`);

  const configWith = (urls: { gcp: GcpEmulator | undefined; gcpPrivate: GcpEmulator | undefined; entra: EntraEmulator | undefined; aws: StsEmulator | undefined }) =>
    sandbox.config
      .replace(
        'clientIdentities:',
        `  - name: gcp-prod
    type: gcp
    workloadIdentityProvider: ${WIP}
    stsEndpoint: ${urls.gcp?.stsEndpoint ?? 'http://127.0.0.1:9/v1/token'}
    iamCredentialsEndpoint: ${urls.gcp?.iamCredentialsEndpoint ?? 'http://127.0.0.1:9'}
  - name: gcp-private
    type: gcp
    workloadIdentityProvider: ${WIP}
    stsEndpoint: ${urls.gcpPrivate?.stsEndpoint ?? 'http://127.0.0.1:9/v1/token'}
    iamCredentialsEndpoint: ${urls.gcpPrivate?.iamCredentialsEndpoint ?? 'http://127.0.0.1:9'}
  - name: azure-prod
    type: azure
    tenantId: ${TENANT}
    authorityHost: ${urls.entra?.authorityHost ?? 'https://127.0.0.1:9'}${urls.entra ? `\n    caFile: ${urls.entra.caFile}` : ''}
  - name: aws-pinned
    type: aws-sts
    endpoint: ${urls.aws?.url ?? 'http://127.0.0.1:9'}
    region: us-east-1
clientIdentities:`,
      )
      .replace(
        '  - name: app-any-branch',
        `      GCP_DEPLOY: { provider: gcp-prod, serviceAccount: ${SA}, outputs: { GOOGLE_OAUTH_ACCESS_TOKEN: AccessToken } }
      GCP_OTHER: { provider: gcp-prod, serviceAccount: ${SA}, outputs: { GOOGLE_OAUTH_ACCESS_TOKEN: AccessToken } }
      GCP_PRIVATE: { provider: gcp-private, serviceAccount: ${SA}, outputs: { GOOGLE_OAUTH_ACCESS_TOKEN: AccessToken } }
      AZURE_DEPLOY: { provider: azure-prod, clientId: ${CLIENT}, scope: https://management.azure.com/.default, outputs: { AZURE_ACCESS_TOKEN: AccessToken } }
      AZURE_OTHER: { provider: azure-prod, clientId: ${CLIENT}, scope: https://management.azure.com/.default, outputs: { AZURE_ACCESS_TOKEN: AccessToken } }
      AWS_PINNED: { provider: aws-pinned, roleArn: ${ROLE_DEPLOY}, outputs: { AWS_ACCESS_KEY_ID: AccessKeyId } }
      AWS_UNPINNED: { provider: aws-pinned, roleArn: ${ROLE_DEPLOY}, outputs: { AWS_ACCESS_KEY_ID: AccessKeyId } }
  - name: app-any-branch`,
      );

  async function trustFor(key: string): Promise<Trust> {
    const result = await runCli(['issuer', 'trust', '--config', configFile, '--key', key, '--format', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as Trust;
  }

  beforeAll(async () => {
    sandbox = await startSandbox({ brokerToken: 'self' });
    // The trust depends on the issuer, key names and audiences only: asked of a config
    // whose endpoints are not known yet, then the emulators start with it.
    writeFileSync(configFile, configWith({ gcp: undefined, gcpPrivate: undefined, entra: undefined, aws: undefined }));
    const [gcpTrust, azureTrust, awsTrust] = [await trustFor('GCP_DEPLOY'), await trustFor('AZURE_DEPLOY'), await trustFor('AWS_PINNED')];
    const jwks = await runCli(['issuer', 'jwks', '--config', configFile]);
    expect(jwks.code).toBe(0);

    gcp = await startGcpEmulator({
      trust: { issuer: gcpTrust.issuer, audience: gcpTrust.gcp!.allowedAudiences, attributeMapping: gcpTrust.gcp!.attributeMapping },
      workloadIdentityProvider: WIP,
      serviceAccounts: { [SA]: { members: [gcpTrust.gcp!.principal] } },
    });
    // A pool provider with the uploaded JWKS: it never reaches the broker.
    gcpPrivate = await startGcpEmulator({
      trust: { issuer: gcpTrust.issuer, jwks: JSON.parse(jwks.stdout) as { keys: object[] }, audience: gcpTrust.gcp!.allowedAudiences, attributeMapping: gcpTrust.gcp!.attributeMapping },
      workloadIdentityProvider: WIP,
      serviceAccounts: { [SA]: { members: [gcpTrust.gcp!.principal.replace('GCP_DEPLOY', 'GCP_PRIVATE')] } },
    });
    const credential = azureTrust.azure!.federatedCredential;
    entra = await startEntraEmulator({
      trust: { issuer: credential.issuer, audience: credential.audiences[0]! },
      federatedCredentials: [{ tenantId: TENANT, clientId: CLIENT, issuer: credential.issuer, subject: credential.subject, audiences: credential.audiences }],
    });
    aws = await startStsEmulator({ flavor: 'aws', trust: { issuer: awsTrust.issuer, audience: awsTrust.audience, condition: policyCondition(awsTrust) } });
    const config = configWith({ gcp, gcpPrivate, entra, aws });
    writeFileSync(configFile, config);
    await sandbox.restartBroker(config);
  });
  afterAll(async () => {
    await sandbox?.close();
    await Promise.all([gcp?.close(), gcpPrivate?.close(), entra?.close(), aws?.close()]);
  });

  type Answer = Record<string, { credentials?: Record<string, string> }> & { error?: string };

  it('GCP: the pool provider from `issuer trust` (allowed audience, attribute mapping on sub) accepts the key it names, not another', async () => {
    const ok = await mintAsMain<Answer>(sandbox, ['GCP_DEPLOY']);
    expect(ok.status).toBe(200);
    expect(ok.body.GCP_DEPLOY!.credentials).toEqual({ GOOGLE_OAUTH_ACCESS_TOKEN: gcp.issued.at(-1)!.accessToken });
    const exchange = gcp.requests.find((r) => r.endpoint === 'sts')!;
    expect(decodeJwt(exchange.form!.subject_token!)).toMatchObject({ sub: 'voidkey:key:GCP_DEPLOY', aud: WIP, iss: sandbox.self!.issuer });

    // Same pool, same service account: the grant names GCP_DEPLOY's principal only.
    const other = await mintAsMain<Answer>(sandbox, ['GCP_OTHER']);
    expect([other.status, other.body.error]).toEqual([502, 'provider_rejected']);
  });

  it('GCP: a pool provider with the JWKS from `issuer jwks` uploaded verifies without reaching the broker', async () => {
    const ok = await mintAsMain<Answer>(sandbox, ['GCP_PRIVATE']);
    expect(ok.status).toBe(200);
    expect(ok.body.GCP_PRIVATE!.credentials).toEqual({ GOOGLE_OAUTH_ACCESS_TOKEN: gcpPrivate.issued.at(-1)!.accessToken });
  });

  it('Azure: the federated credential JSON from `issuer trust` (exact issuer, subject, api://AzureADTokenExchange) accepts its key, not another', async () => {
    const ok = await mintAsMain<Answer>(sandbox, ['AZURE_DEPLOY']);
    expect(ok.status).toBe(200);
    expect(ok.body.AZURE_DEPLOY!.credentials).toEqual({ AZURE_ACCESS_TOKEN: entra.issued.at(-1)!.accessToken });
    const assertion = entra.requests.find((r) => r.endpoint === 'token')!.form!.client_assertion!;
    const claims = decodeJwt(assertion);
    expect(claims).toMatchObject({ sub: 'voidkey:key:AZURE_DEPLOY', aud: 'api://AzureADTokenExchange' });
    // The jti Entra logs as the sign-in's federated token id is the audit's brokerTokenJti.
    const event = sandbox.broker.auditEvents().find((e) => e.requestId === ok.requestId)!;
    expect((event.issued as Array<{ brokerTokenJti: string }>)[0]!.brokerTokenJti).toBe(claims.jti);

    const other = await mintAsMain<Answer>(sandbox, ['AZURE_OTHER']);
    expect([other.status, other.body.error]).toEqual([502, 'provider_rejected']);
    // A refused token's jti is audited too: the cloud's failed sign-in joins the request.
    const refused = entra.requests.filter((r) => r.endpoint === 'token').at(-1)!.form!.client_assertion!;
    let failed: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !failed; i++) {
      failed = sandbox.broker.auditEvents().find((e) => e.requestId === other.requestId);
      if (!failed) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(failed).toMatchObject({ outcome: 'failed', failures: { AZURE_OTHER: { reason: 'provider_rejected', brokerTokenJti: decodeJwt(refused).jti } } });
  });

  it('AWS: the role trust policy from `issuer trust`, pinned to sub and aud, admits its key and refuses another', async () => {
    const trust = await trustFor('AWS_PINNED');
    expect(trust.aws!.trustPolicy.Statement[0]!.Principal.Federated).toBe(`arn:aws:iam::111122223333:oidc-provider/${sandbox.self!.issuer.replace('http://', '')}`);
    const ok = await mintAsMain<Answer>(sandbox, ['AWS_PINNED']);
    expect(ok.status).toBe(200);
    expect(aws.issued.at(-1)!.subject).toBe('voidkey:key:AWS_PINNED');

    const other = await mintAsMain<Answer>(sandbox, ['AWS_UNPINNED']);
    expect([other.status, other.body.error]).toEqual([502, 'provider_rejected']);
    expect(aws.requests.at(-1)!.action).toBe('AssumeRoleWithWebIdentity');
  });
});
