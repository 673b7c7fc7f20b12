import { ConfigError, formatIssue, loadConfig } from '../../broker-core';
import { builtInProviders } from '..';

const providers = builtInProviders();

const BASE = `brokerIdentity:
  issuer: https://broker.example.com
  signingKeys:
    - file: /etc/voidkey/keys/current.pem
clientIdps:
  - name: gh
    issuer: https://token.actions.githubusercontent.com
    audience: https://broker.example.com
accessProviders:
  - name: internal
    type: broker-jwt
clientIdentities:
  - subject: repo:acme/app:ref:refs/heads/main
    idp: gh
    claims: { repository_id: "1" }
    keys:
      VAULT:
        provider: internal
        audience: vault.example.com
        claims: { repository: '\${claims.repository}' }
        outputs: { VAULT_JWT: Token, VAULT_JWT_EXPIRES_AT: ExpiresAt }
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

describe('broker-jwt in the config', () => {
  it('loads (positive control)', () => {
    const { warnings } = load(BASE);
    expect(warnings).toEqual([]);
  });

  it.each([
    ['no brokerIdentity', BASE.replace(/^brokerIdentity:\n(?: {2}.*\n| {4}.*\n)*/, ''), /needs a 'brokerIdentity'/],
    ['no audience', BASE.replace('        audience: vault.example.com\n', ''), /audience/],
    ['a registered claim', BASE.replace('claims: { repository:', 'claims: { sub:'), /claims/],
    ['a duration over an hour', BASE.replace('        audience: vault.example.com\n', '        audience: vault.example.com\n        duration: 7200\n'), /duration/],
    ['an output it does not have', BASE.replace('VAULT_JWT_EXPIRES_AT: ExpiresAt', 'X: AccessKeyId'), /AccessKeyId/],
  ])('refuses %s', (_name, text, message) => {
    expect(load(BASE).config.accessProviders).toHaveLength(1);
    expect(issuesOf(text).join('\n')).toMatch(message);
  });
});
