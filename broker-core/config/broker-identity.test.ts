import { ConfigError, formatIssue, loadConfig } from '..';
import { builtInProviders } from '../../providers';

const providers = builtInProviders();

/** A config with the broker's own issuer and no broker IdP: every provider defaults to tokenSource self. */
const BASE = `settings:
  allowHttpLoopback: true
brokerIdentity:
  issuer: https://broker.example.com
  signingKeys:
    - file: /etc/voidkey/keys/current.pem
clientIdps:
  - name: gh
    issuer: https://token.actions.githubusercontent.com
    audience: https://broker.example.com
accessProviders:
  - name: aws
    type: aws-sts
    region: us-east-1
  - name: minio
    type: minio-sts
    endpoint: https://minio.example.com
    brokerAuth: { audience: voidkey }
clientIdentities:
  - subject: repo:acme/app:ref:refs/heads/main
    idp: gh
    claims: { repository_id: "1" }
    keys:
      AWS:
        provider: aws
        roleArn: arn:aws:iam::111122223333:role/deploy
        sourceIdentity: \${claims.actor}
        sessionTags:
          repository: \${claims.repository}
        outputs: { AWS_ACCESS_KEY_ID: AccessKeyId }
      MINIO:
        provider: minio
        outputs: { MINIO_ACCESS_KEY: AccessKeyId }
`;

const load = (text: string) => loadConfig(text, { fileName: 'config.yaml', env: {}, providers });

function issuesOf(text: string): string[] {
  try {
    load(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map(formatIssue);
  }
  throw new Error('expected the config to be refused');
}

describe('brokerIdentity in the config', () => {
  it('loads: tokenLifetimeSeconds defaults to 300, providers default to tokenSource self, AWS web identity may carry sourceIdentity and sessionTags (positive control)', () => {
    const { config, warnings } = load(BASE);
    expect(config.brokerIdentity).toEqual({ issuer: 'https://broker.example.com', signingKeys: [{ file: '/etc/voidkey/keys/current.pem' }], tokenLifetimeSeconds: 300 });
    expect(config.accessProviders.map((p) => (p.brokerAuth as { tokenSource?: string }).tokenSource)).toEqual(['self', 'self']);
    expect(warnings).toEqual([]);
  });

  it.each([
    ['an http issuer to another host', BASE.replace('issuer: https://broker.example.com', 'issuer: http://broker.example.com'), 'brokerIdentity.issuer: must use https (plain http is only for loopback hosts in a local setup)'],
    ['an http loopback issuer without allowHttpLoopback', BASE.replace('allowHttpLoopback: true', 'allowHttpLoopback: false').replace('issuer: https://broker.example.com', 'issuer: http://127.0.0.1:3000'), 'brokerIdentity.issuer: plain http needs settings.allowHttpLoopback: true'],
    ['an issuer with a query', BASE.replace('issuer: https://broker.example.com', 'issuer: https://broker.example.com?x=1'), 'brokerIdentity.issuer: must not carry a query or a fragment'],
    ['an issuer ending in /', BASE.replace('issuer: https://broker.example.com', 'issuer: https://broker.example.com/'), "brokerIdentity.issuer: must not end with '/'"],
    ['a lifetime over an hour', BASE.replace('    - file: /etc/voidkey/keys/current.pem', '    - file: /etc/voidkey/keys/current.pem\n  tokenLifetimeSeconds: 3601'), 'brokerIdentity.tokenLifetimeSeconds: must be <= 3600'],
    ['no signing key', BASE.replace('    - file: /etc/voidkey/keys/current.pem', '    []').replace('signingKeys:\n', 'signingKeys:'), 'brokerIdentity.signingKeys: must NOT have fewer than 1 items'],
    ['MinIO with no audience', BASE.replace('    brokerAuth: { audience: voidkey }\n', ''), "accessProviders[1].brokerAuth: tokenSource self needs 'audience'"],
    ['tokenSource broker-oidc with no brokerIdp', BASE.replace('    region: us-east-1', '    region: us-east-1\n    brokerAuth: { tokenSource: broker-oidc }'), "accessProviders[0]: a aws-sts provider presents the broker's own token: the config needs a 'brokerIdp' (or set 'brokerAuth: {tokenSource: self}'"],
    ['a jwksUri beside tokenSource self', BASE.replace('brokerAuth: { audience: voidkey }', 'brokerAuth: { audience: voidkey, jwksUri: https://idp.example.com/jwks }'), 'accessProviders[1].brokerAuth.jwksUri: checks a broker IdP'],
  ])('refuses %s', (_name, text, message) => {
    expect(issuesOf(text).join('\n')).toContain(message);
  });

  it('tokenSource self with no brokerIdentity is refused; sessionTags on web identity need tokenSource self', () => {
    const withIdp = BASE.replace(/brokerIdentity:\n(?: {2}.*\n)+/, 'brokerIdp:\n  clientId: broker\n  clientSecretFile: /run/secret\n  tokenEndpoint: https://idp.example.com/token\n');
    const issues = issuesOf(withIdp.replace('brokerAuth: { audience: voidkey }', 'brokerAuth: { audience: voidkey, tokenSource: self }')).join('\n');
    expect(issues).toContain("accessProviders[1].brokerAuth.tokenSource: self needs a 'brokerIdentity'");
    expect(issues).toContain("sourceIdentity: needs 'auth: ambient' or 'brokerAuth: {tokenSource: self}'");
  });

  it('a config may mix both sources: broker-oidc by default beside brokerIdp, self where a provider says so', () => {
    const mixed = BASE.replace('clientIdps:', 'brokerIdp:\n  clientId: broker\n  clientSecretFile: /run/secret\n  tokenEndpoint: https://idp.example.com/token\nclientIdps:')
      .replace('    region: us-east-1', '    region: us-east-1\n    brokerAuth: { tokenSource: self }');
    const { config } = load(mixed);
    expect(config.accessProviders.map((p) => (p.brokerAuth as { tokenSource?: string }).tokenSource)).toEqual(['self', undefined]);
  });
});
