import { isIPv4, isIPv6 } from 'node:net';
import { loadConfig } from '../broker-core';
import { builtInProviders } from '../providers';

/**
 * What a start runs that is pure enough to run once while the snapshot is built
 * (scripts/bundle-snapshot.mjs): parsing and validating a config (the YAML parser, the
 * precompiled validators and the config checks), and the address checks node's listen()
 * makes. The snapshot keeps what that leaves behind that is not the config itself: the
 * loaded validators module and cache, and compiled regular expressions (node's IPv6
 * pattern alone cost ~5 ms of CPU per start). No environment, file, clock, socket or
 * metric is touched; nothing it builds is kept.
 */
const SAMPLE = `brokerIdp:
  clientId: voidkey-broker
  clientSecret: \${BROKER_CLIENT_SECRET}
  tokenEndpoint: https://idp.example.com/token
  audience: voidkey-broker
clientIdps:
  - name: github-actions
    issuer: https://token.actions.githubusercontent.com
    audience: https://voidkey.example.com
    jwksUri: https://token.actions.githubusercontent.com/.well-known/jwks
accessProviders:
  - name: aws-prod
    type: aws-sts
    region: us-east-1
  - name: minio
    type: minio-sts
    endpoint: https://minio.example.com
clientIdentities:
  - name: app-main
    subject: repo:acme/app:ref:refs/heads/main
    idp: github-actions
    claims: { repository_id: "123456" }
    keys:
      AWS_DEPLOY:
        provider: aws-prod
        roleArn: arn:aws:iam::111122223333:role/deploy
        duration: 900
        outputs: { AWS_ACCESS_KEY_ID: AccessKeyId, AWS_SECRET_ACCESS_KEY: SecretAccessKey, AWS_SESSION_TOKEN: SessionToken }
      MINIO:
        provider: minio
        outputs: { MINIO_ACCESS_KEY: AccessKeyId }
server:
  audit: { stdout: true }
`;

export function warmUp(): void {
  isIPv6('fe80::1');
  isIPv4('127.0.0.1');
  loadConfig(SAMPLE, { fileName: 'snapshot-warm-up.yaml', env: { BROKER_CLIENT_SECRET: 'warm-up' }, providers: builtInProviders() });
}
