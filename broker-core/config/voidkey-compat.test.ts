import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, formatIssue, loadConfig, pickConfigFile, type ConfigIssue } from '..';
import { builtInProviders } from '../../providers';
import { IdentityMatcher } from '../identity/identity-matcher';

const providers = builtInProviders();
const fixtures = join(__dirname, '../../test/fixtures/voidkey');

function load(text: string, env: Record<string, string> = { BROKER_CLIENT_SECRET: 'canary-secret-value' }) {
  return loadConfig(text, { fileName: 'config.yaml', env, providers });
}

function issuesOf(text: string): string[] {
  try {
    load(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map(formatIssue);
  }
  throw new Error('expected the config to be refused');
}

const codes = (warnings: readonly ConfigIssue[]) => warnings.map((w) => `${w.path} ${w.code}`);

/** Voidkey's field names and layout, in a config marked local: loads without a warning. */
const VOIDKEY = `settings:
  allowHttpLoopback: true
brokerIdp:
  name: broker-keycloak
  issuer: http://localhost:8080/realms/broker
  audience: voidkey-broker
  clientId: broker-service
  clientSecret: \${BROKER_CLIENT_SECRET}
  tokenEndpoint: http://localhost:8080/realms/broker/protocol/openid-connect/token
clientIdps:
  - name: keycloak-client
    issuer: http://localhost:8080/realms/client
    audience: voidkey-broker
    jwksUri: http://localhost:8080/realms/client/protocol/openid-connect/certs
    algorithms: [RS256]
accessProviders:
  - name: minio-sandbox
    type: minio-sts
    endpoint: http://localhost:9000
    defaultDuration: 3600
    brokerAuth:
      tokenSource: broker-oidc
      expectedIssuer: http://localhost:8080/realms/broker
      expectedAudience: voidkey-broker
  - name: aws-dev
    type: aws-sts
    endpoint: https://sts.amazonaws.com
    region: us-east-1
    defaultDuration: 3600
    brokerAuth:
      tokenSource: broker-oidc
clientIdentities:
  - subject: 8a99c8d8-4c28-4d2d-8d07-ec27cced122f
    idp: keycloak-client
    keys:
      MINIO_CREDENTIALS:
        provider: minio-sandbox
        roleArn: arn:minio:iam:::role/broker-role
        duration: 1800
        outputs: { MINIO_ACCESS_KEY_ID: AccessKeyId }
      AWS_READONLY_CREDENTIALS:
        provider: aws-dev
        roleArn: arn:aws:iam::123456789012:role/VoidkeyReadOnlyRole
        duration: 7200
        outputs: { AWS_ACCESS_KEY_ID: AccessKeyId }
default: keycloak-client
`;

describe("Voidkey's own configs, unchanged", () => {
  it('the Voidkey-format base loads without warnings (positive control for everything below)', () => {
    const { config, warnings } = load(VOIDKEY);
    expect(warnings).toEqual([]);
    // AWS web identity allows up to the role's maximum (12 h): Voidkey's 7200 loads.
    expect(config.clientIdentities[0]!.keys.AWS_READONLY_CREDENTIALS!.duration).toBe(7200);
  });

  it.each([
    [
      'example-config.yaml',
      [
        'brokerIdp.clientSecret inline_secret',
        'brokerIdp.tokenEndpoint http_loopback',
        'brokerIdp.issuer http_loopback',
        'brokerIdp.jwksUri http_loopback',
        'clientIdps[0].issuer http_loopback',
        'clientIdps[0].jwksUri http_loopback',
        'accessProviders[0].endpoint http_loopback',
        'accessProviders[0].brokerAuth.jwksUri http_loopback',
        'accessProviders[1].brokerAuth.jwksUri http_loopback',
        'clientIdps[2].audience foreign_audience',
        'clientIdentities[2] unpinned_repository',
        'clientIdentities[0].keys.MINIO_CREDENTIALS.policy minio_policy_name',
        'clientIdentities[0].keys.MINIO_ADMIN_CREDENTIALS.policy minio_policy_name',
      ],
    ],
    [
      'sandbox-config.yaml',
      [
        'brokerIdp.clientSecret inline_secret',
        'brokerIdp.tokenEndpoint http_loopback',
        'brokerIdp.issuer http_loopback',
        'brokerIdp.jwksUri http_loopback',
        'clientIdps[0].issuer http_loopback',
        'clientIdps[0].jwksUri http_loopback',
        'clientIdps[0].validateAudience validate_audience_ignored',
        'accessProviders[0].endpoint http_loopback',
        'accessProviders[0].brokerAuth.jwksUri http_loopback',
        'clientIdentities[0].keys.MINIO_CREDENTIALS.role minio_role_name',
        'clientIdentities[0].keys.MINIO_ADMIN_CREDENTIALS.role minio_role_name',
      ],
    ],
  ])('%s loads, with exactly these warnings', (file, expected) => {
    const text = readFileSync(join(fixtures, file), 'utf8');
    const { config, warnings } = loadConfig(text, { fileName: file, env: {}, providers });
    expect(codes(warnings)).toEqual(expected);
    expect(config.default).toBe('keycloak-client');
    // the inline secret loads (it is Voidkey's example) but no warning repeats it
    expect(config.brokerIdp!.clientSecret).toBe('broker-secret-12345');
    expect(JSON.stringify(warnings)).not.toContain('broker-secret-12345');
  });

  it('validateAudience: false keeps the audience: the loaded IdP still checks it', () => {
    const { config } = loadConfig(readFileSync(join(fixtures, 'sandbox-config.yaml'), 'utf8'), { fileName: 'x', env: {}, providers });
    expect(config.clientIdps[0]!.audience).toBe('voidkey-broker');
    expect(config.clientIdps[0]!.allowAnyAudience).toBeUndefined();
  });
});

describe('each Voidkey field: honoured, or loaded with a warning that gives the replacement', () => {
  const at = (text: string, after: string, insert: string) => {
    expect(text).toContain(after);
    return text.replace(after, `${after}${insert}`);
  };

  it.each([
    [
      'brokerIdp.algorithms with no jwksUri to use them on',
      () => at(VOIDKEY, '  clientId: broker-service\n', '  algorithms: [RS256]\n'),
      'brokerIdp.algorithms algorithms_unused',
      /is not used without a key set.*`jwksUri: <the IdP's JWKS URL>`/,
    ],
    ['brokerIdp.validateAudience: false', () => VOIDKEY.replace('  clientId: broker-service\n', '  clientId: broker-service\n  validateAudience: false\n'), 'brokerIdp.validateAudience validate_audience_ignored', /remove `expectedAudience`/],
    [
      'clientIdps[].validateAudience: false beside an audience',
      () => VOIDKEY.replace('    audience: voidkey-broker\n    jwksUri', '    audience: voidkey-broker\n    validateAudience: false\n    jwksUri'),
      'clientIdps[0].validateAudience validate_audience_ignored',
      /still carry that audience.*`allowAnyAudience: true`/,
    ],
    ['a MinIO role that is a name', () => VOIDKEY.replace('        roleArn: arn:minio:iam:::role/broker-role\n', '        role: client-policy\n'), 'clientIdentities[0].keys.MINIO_CREDENTIALS.role minio_role_name', /not sent.*RoleArn.*policy claim/],
    ['a MinIO policy that is a name', () => VOIDKEY.replace('        roleArn: arn:minio:iam:::role/broker-role\n', '        policy: client-policy\n'), 'clientIdentities[0].keys.MINIO_CREDENTIALS.policy minio_policy_name', /not sent as a session policy.*RoleArn.*policy claim.*policy: \{Version/],
    ['an inline clientSecret', () => VOIDKEY.replace('${BROKER_CLIENT_SECRET}', 'inline-canary-secret'), 'brokerIdp.clientSecret inline_secret', /clientSecret: \$\{BROKER_CLIENT_SECRET\}.*clientSecretFile/],
    ['plain http to loopback in a config not marked local', () => VOIDKEY.replace('  allowHttpLoopback: true\n', '  allowHttpLoopback: false\n'), 'brokerIdp.issuer http_loopback', /settings: \{allowHttpLoopback: true\}/],
  ])('%s', (_name, text, expected, message) => {
    const { warnings } = load(text());
    expect(codes(warnings)).toContain(expected);
    const warning = warnings.find((w) => `${w.path} ${w.code}` === expected)!;
    expect(warning.message).toMatch(message);
    expect(warning.line).toBeGreaterThan(1);
    expect(JSON.stringify(warnings)).not.toContain('inline-canary-secret');
  });

  it('honours brokerIdp.jwksUri, algorithms and brokerAuth.jwksUri silently (the broker token is verified against them)', () => {
    const text = VOIDKEY.replace('  clientId: broker-service\n', '  clientId: broker-service\n  jwksUri: http://localhost:8080/realms/broker/certs\n  algorithms: [RS256, ES256]\n').replace(
      '      expectedAudience: voidkey-broker\n',
      '      expectedAudience: voidkey-broker\n      jwksUri: http://localhost:8080/realms/broker/other-certs\n',
    );
    const { config, warnings } = load(text);
    expect(warnings).toEqual([]);
    expect(config.brokerIdp!.algorithms).toEqual(['RS256', 'ES256']);
  });

  it('honours a MinIO role that is an ARN, silently, and a provider-level roleArn as the default of its keys', () => {
    const roleAsArn = VOIDKEY.replace('        roleArn: arn:minio:iam:::role/broker-role\n', '        role: arn:minio:iam:::role/broker-role\n');
    expect(load(roleAsArn).warnings).toEqual([]);
    const providerRole = VOIDKEY.replace('        roleArn: arn:aws:iam::123456789012:role/VoidkeyReadOnlyRole\n', '').replace(
      '    region: us-east-1\n',
      '    region: us-east-1\n    roleArn: arn:aws:iam::123456789012:role/VoidkeyBrokerRole\n',
    );
    expect(load(providerRole).warnings).toEqual([]);
  });

  it.each([
    ['an AWS key with no roleArn and none on its provider', () => VOIDKEY.replace('        roleArn: arn:aws:iam::123456789012:role/VoidkeyReadOnlyRole\n', ''), /AWS_READONLY_CREDENTIALS: missing required field 'roleArn' \(or set 'roleArn' on provider 'aws-dev'/],
    ['a MinIO key with both role and roleArn', () => VOIDKEY.replace('        roleArn: arn:minio:iam:::role/broker-role\n', '        roleArn: arn:minio:iam:::role/broker-role\n        role: client-policy\n'), /MINIO_CREDENTIALS\.role: set 'roleArn' or Voidkey's 'role', not both/],
    ['a MinIO policy that is neither JSON nor a name', () => VOIDKEY.replace('        roleArn: arn:minio:iam:::role/broker-role\n', '        policy: "{not json"\n'), /MINIO_CREDENTIALS\.policy: is not valid JSON/],
    ['a tokenSource other than broker-oidc or self', () => VOIDKEY.replace('      tokenSource: broker-oidc\n      expectedIssuer', '      tokenSource: workload\n      expectedIssuer'), /accessProviders\[0\]\.brokerAuth\.tokenSource: must be one of: broker-oidc, self/],
    ['clientIdps[].validateAudience: false with no audience', () => VOIDKEY.replace('    audience: voidkey-broker\n    jwksUri', '    validateAudience: false\n    jwksUri'), /clientIdps\[0\]: missing required field 'audience'.*'validateAudience: false' does not opt out: write 'allowAnyAudience: true'/],
  ])('refuses %s (the base above loads)', (_name, text, message) => {
    expect(issuesOf(text())).toEqual([expect.stringMatching(message)]);
  });

  // Plain http to any host but loopback stays refused, for every URL field, the new ones included.
  it.each([
    ['brokerIdp.issuer', 'http://localhost:8080/realms/broker\n  audience', 'http://idp.example.com/realms/broker\n  audience'],
    ['brokerIdp.tokenEndpoint', 'http://localhost:8080/realms/broker/protocol/openid-connect/token', 'http://idp.example.com/token'],
    ['brokerIdp.jwksUri', '  clientId: broker-service\n', '  clientId: broker-service\n  jwksUri: http://idp.example.com/certs\n'],
    ['clientIdps[0].issuer', 'http://localhost:8080/realms/client\n', 'http://idp.example.com/realms/client\n'],
    ['clientIdps[0].jwksUri', 'http://localhost:8080/realms/client/protocol/openid-connect/certs', 'http://idp.example.com/certs'],
    ['accessProviders[0].endpoint', 'http://localhost:9000', 'http://minio.example.com:9000'],
    ['accessProviders[1].endpoint', 'https://sts.amazonaws.com', 'http://sts.amazonaws.com'],
    ['accessProviders[0].brokerAuth.jwksUri', '      expectedAudience: voidkey-broker\n', '      expectedAudience: voidkey-broker\n      jwksUri: http://idp.example.com/certs\n'],
  ])('refuses plain http to a non-loopback host in %s, even in a config marked local', (path, from, to) => {
    expect(VOIDKEY).toContain(from);
    expect(issuesOf(VOIDKEY.replace(from, to))).toEqual([expect.stringContaining(`${path}: must use https (plain http is only for loopback hosts`)]);
  });
});

describe('YAML tags', () => {
  const CLAIMS = VOIDKEY.replace('    idp: keycloak-client\n    keys:', '    idp: keycloak-client\n    claims:\n      azp: voidkey-cli\n    keys:');

  it('plain mappings, lists, scalars and !!str load (control)', () => {
    expect(load(CLAIMS).config.clientIdentities[0]!.claims).toEqual({ azp: 'voidkey-cli' });
    expect(load(CLAIMS.replace('azp: voidkey-cli', 'azp: !!str 12')).config.clientIdentities[0]!.claims).toEqual({ azp: '12' });
  });

  it.each([
    ['!!omap on claims (it used to drop every condition)', CLAIMS.replace('    claims:\n      azp: voidkey-cli\n', '    claims: !!omap\n      - azp: voidkey-cli\n'), '!!omap'],
    ['!!set on server (it used to drop audit failClosed)', CLAIMS.replace('settings:\n', 'server: !!set\n  ? audit\nsettings:\n'), '!!set'],
    ['!!pairs', CLAIMS.replace('    claims:\n      azp: voidkey-cli\n', '    claims: !!pairs\n      - azp: voidkey-cli\n'), '!!pairs'],
    ['a custom tag', CLAIMS.replace('azp: voidkey-cli', 'azp: !vault secret/azp'), '!vault'],
    ['!!binary', CLAIMS.replace('azp: voidkey-cli', 'azp: !!binary aGVsbG8='), '!!binary'],
    ['!!timestamp', CLAIMS.replace('azp: voidkey-cli', 'azp: !!timestamp 2001-12-14'), '!!timestamp'],
  ])('refuses %s, with its position', (_name, text, tag) => {
    expect(issuesOf(text)).toEqual([expect.stringMatching(new RegExp(`^config\\.yaml:\\d+:\\d+: YAML tag '${tag.replace(/[!]/g, '\\!')}' is not allowed`))]);
  });
});

describe('claim conditions', () => {
  const withClaim = (value: string) => VOIDKEY.replace('    idp: keycloak-client\n    keys:', `    idp: keycloak-client\n    claims:\n      account_id: ${value}\n    keys:`);

  it.each([['9007199254740991'], ['-9007199254740991'], ['"9007199254740993"'], ['[1, 2]'], ['true'], ['"x"']])('%s loads (control)', (value) => {
    expect(load(withClaim(value)).warnings).toEqual([]);
  });

  it.each([
    ['9007199254740993', /claims\.account_id: is not a safe integer/],
    ['9007199254740992', /claims\.account_id: is not a safe integer/],
    ['1.5', /claims\.account_id: is not a safe integer/],
    ['[1, 1e300]', /claims\.account_id\[1\]: is not a safe integer/],
    ['""', /claims\.account_id: an empty string is not a condition/],
    ['[]', /claims\.account_id: an empty list matches no token/],
    ['["a", ""]', /claims\.account_id\[1\]: an empty string is not a condition/],
  ])('refuses %s', (value, message) => {
    expect(issuesOf(withClaim(value))).toEqual([expect.stringMatching(message)]);
  });

  it('a number claim that is not a safe integer never matches, even a condition equal to its rounded value', () => {
    // The config refuses such conditions; the matcher holds the line on its own too.
    const identity = (value: number) => ({ subject: 's', idp: 'i', claims: { n: value }, keys: { K: { provider: 'p', outputs: { A: 'AccessKeyId' } } } });
    const match = (condition: number, claim: number) => new IdentityMatcher([identity(condition)]).match('i', 's', { n: claim }).identities.length;
    expect(match(9007199254740991, 9007199254740991)).toBe(1); // control: a safe integer matches itself
    expect(match(123, 123)).toBe(1);
    // JSON.parse('9007199254740993') === 9007199254740992: no rounded value may match
    expect(match(9007199254740992, JSON.parse('9007199254740993') as number)).toBe(0);
    expect(match(1.5, 1.5)).toBe(0);
  });
});

describe('CONFIG_DIR: a folder holding one YAML file', () => {
  it('picks the one YAML file, ignoring hidden entries and other files', () => {
    expect(pickConfigFile('/etc/voidkey', ['config.yaml', '..data', '.config.yaml.swp', 'README.md'])).toBe('config.yaml');
    expect(pickConfigFile('/etc/voidkey', ['broker.yml'])).toBe('broker.yml');
  });

  it('refuses several YAML files rather than merging them, and a folder with none', () => {
    expect(() => pickConfigFile('/etc/voidkey', ['b.yaml', 'a.yml'])).toThrow("/etc/voidkey holds 2 YAML files (a.yml, b.yaml): the broker reads one config and never merges files");
    expect(() => pickConfigFile('/etc/voidkey', ['README.md'])).toThrow('/etc/voidkey holds no config: expected one YAML file');
  });
});
