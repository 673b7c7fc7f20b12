import { randomBytes } from 'node:crypto';
import { startBrokerProcess, type BrokerProcess } from '../support/broker-process';
import { startLocalIdp, type LocalIdp } from '../support/local-idp';
import { startStsEmulator, type StsEmulator } from '../support/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../support/token-issuer';

export const ROLE_DEPLOY = 'arn:aws:iam::111122223333:role/deploy';
export const ROLE_READONLY = 'arn:aws:iam::111122223333:role/readonly';
export const MINIO_ROLE = 'arn:minio:iam:::role/voidkey-artifacts';
export const BROKER_AUDIENCE = 'voidkey-broker';
export const MAIN_SUBJECT = 'repo:acme/app:ref:refs/heads/main';

/** The local world an end-to-end test runs in: IdPs, STS sandboxes and the real broker process. */
export interface Sandbox {
  readonly github: TokenIssuer;
  readonly brokerIdp: LocalIdp;
  readonly aws: StsEmulator;
  readonly minio: StsEmulator;
  readonly broker: BrokerProcess;
  readonly clientSecret: string;
  readonly config: string;
  close(): Promise<void>;
}

export function sandboxConfig(parts: { github: TokenIssuer; brokerIdp: LocalIdp; aws: StsEmulator; minio: StsEmulator }): string {
  return `settings:
  allowHttpLoopback: true
  upstreamTimeoutMs: 2000
brokerIdp:
  name: local-broker-idp
  issuer: ${parts.brokerIdp.issuer}
  audience: ${BROKER_AUDIENCE}
  clientId: voidkey-broker
  clientSecret: \${BROKER_CLIENT_SECRET}
  tokenEndpoint: ${parts.brokerIdp.tokenEndpoint}
clientIdps:
  - name: github-actions
    issuer: ${parts.github.issuer}
    audience: ${parts.github.audience}
    jwksUri: ${parts.github.jwksUri}
accessProviders:
  - name: aws-sandbox
    type: aws-sts
    endpoint: ${parts.aws.url}
    region: us-east-1
    defaultDuration: 900
  - name: minio-sandbox
    type: minio-sts
    endpoint: ${parts.minio.url}
clientIdentities:
  - name: app-main
    subject: ${MAIN_SUBJECT}
    idp: github-actions
    claims:
      repository_id: "123456789"
    keys:
      AWS_DEPLOY:
        provider: aws-sandbox
        roleArn: ${ROLE_DEPLOY}
        maxDuration: 3600
        outputs:
          AWS_ACCESS_KEY_ID: AccessKeyId
          AWS_SECRET_ACCESS_KEY: SecretAccessKey
          AWS_SESSION_TOKEN: SessionToken
          AWS_CREDENTIAL_EXPIRATION: Expiration
          AWS_REGION: { value: us-east-1 }
      ARTIFACTS:
        provider: minio-sandbox
        roleArn: ${MINIO_ROLE}
        outputs:
          MINIO_ACCESS_KEY: AccessKeyId
          MINIO_SECRET_KEY: SecretAccessKey
          MINIO_SESSION_TOKEN: SessionToken
          MINIO_ENDPOINT: Endpoint
  - name: app-any-branch
    subjectPattern: "repo:acme/app:ref:refs/heads/*"
    idp: github-actions
    keys:
      AWS_READONLY:
        provider: aws-sandbox
        roleArn: ${ROLE_READONLY}
        outputs:
          AWS_ACCESS_KEY_ID: AccessKeyId
          AWS_SECRET_ACCESS_KEY: SecretAccessKey
          AWS_SESSION_TOKEN: SessionToken
default: github-actions
`;
}

export async function startSandbox(options: { brokerEnv?: Record<string, string> } = {}): Promise<Sandbox> {
  const clientSecret = `canary-client-secret-${randomBytes(12).toString('hex')}`;
  const github = await startTokenIssuer({ audience: 'https://broker.example.com' });
  const brokerIdp = await startLocalIdp({ clients: [{ clientId: 'voidkey-broker', clientSecret }] });
  const trust = { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: BROKER_AUDIENCE };
  const aws = await startStsEmulator({ flavor: 'aws', trust, maxSessionDuration: 3600 });
  const minio = await startStsEmulator({ flavor: 'minio', trust, minioRoleArn: MINIO_ROLE });
  const config = sandboxConfig({ github, brokerIdp, aws, minio });
  const broker = await startBrokerProcess({ config, env: { BROKER_CLIENT_SECRET: clientSecret, ...options.brokerEnv } });
  return {
    github,
    brokerIdp,
    aws,
    minio,
    broker,
    clientSecret,
    config,
    async close() {
      await broker.stop();
      await Promise.all([github.close(), brokerIdp.close(), aws.close(), minio.close()]);
    },
  };
}
