import type { LocalIdp } from './local-idp';
import type { StsEmulator } from './sts-emulator';
import type { TokenIssuer } from './token-issuer';

export const ROLE_DEPLOY = 'arn:aws:iam::111122223333:role/deploy';
export const ROLE_READONLY = 'arn:aws:iam::111122223333:role/readonly';
export const MINIO_ROLE = 'arn:minio:iam:::role/voidkey-artifacts';
export const BROKER_AUDIENCE = 'voidkey-broker';
export const MAIN_SUBJECT = 'repo:acme/app:ref:refs/heads/main';

/** The broker's own issuer: its URL (the broker's, on a port fixed in advance) and its key files. */
export interface SelfIssuerParts {
  readonly issuer: string;
  readonly keyFiles: readonly string[];
}

/** What AWS's IAM OIDC provider lists as the client id of the broker's issuer. */
export const AWS_SELF_AUDIENCE = 'sts.amazonaws.com';

/**
 * The demo's and the end-to-end tests' config: every URL points at a loopback sandbox.
 * With `self`, the broker signs its own per-mint tokens (no broker IdP): AWS_DEPLOY then
 * carries the caller's attribution (source identity and tags) into the AWS session.
 */
export function sandboxConfigText(parts: { github: TokenIssuer; brokerIdp?: LocalIdp; self?: SelfIssuerParts; aws: StsEmulator; minio: StsEmulator }): string {
  const brokerBlock = parts.self
    ? `brokerIdentity:
  issuer: ${parts.self.issuer}
  signingKeys:
${parts.self.keyFiles.map((file) => `    - file: ${file}`).join('\n')}
  tokenLifetimeSeconds: 300
`
    : `brokerIdp:
  name: local-broker-idp
  issuer: ${parts.brokerIdp!.issuer}
  audience: ${BROKER_AUDIENCE}
  clientId: voidkey-broker
  clientSecret: \${BROKER_CLIENT_SECRET}
  tokenEndpoint: ${parts.brokerIdp!.tokenEndpoint}
`;
  const minioAuth = parts.self ? `\n    brokerAuth: { tokenSource: self, audience: ${BROKER_AUDIENCE} }` : '';
  const attribution = parts.self
    ? `
        sourceIdentity: \${claims.actor}
        sessionTags:
          repository: \${claims.repository}
          workflow: \${claims.workflow}`
    : '';
  return `settings:
  allowHttpLoopback: true
  upstreamTimeoutMs: 2000
${brokerBlock}clientIdps:
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
    endpoint: ${parts.minio.url}${minioAuth}
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
        maxDuration: 3600${attribution}
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

