import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, formatIssue, loadConfig } from '..';
import { builtInProviders } from '../../providers';

const providers = builtInProviders();
const env = { BROKER_CLIENT_SECRET: 'canary-secret-value' };

const BASE = `settings:
  allowHttpLoopback: true
brokerIdp:
  clientId: broker
  clientSecret: \${BROKER_CLIENT_SECRET}
  tokenEndpoint: http://127.0.0.1:8080/token
clientIdps:
  - name: gh
    issuer: http://127.0.0.1:8081
    audience: https://broker
accessProviders:
  - name: aws
    type: aws-sts
    region: us-east-1
clientIdentities:
  - subject: repo:acme/app:ref:refs/heads/main
    idp: gh
    keys:
      AWS:
        provider: aws
        roleArn: arn:aws:iam::111122223333:role/deploy
        outputs: { AWS_ACCESS_KEY_ID: AccessKeyId }
`;

function load(text: string, extraEnv: Record<string, string> = {}) {
  return loadConfig(text, { fileName: 'config.yaml', env: { ...env, ...extraEnv }, providers });
}

function issuesOf(text: string, extraEnv: Record<string, string> = {}): string[] {
  try {
    load(text, extraEnv);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map(formatIssue);
  }
  throw new Error('expected the config to be refused');
}

describe('loadConfig', () => {
  it('loads sample-config.yaml, the annotated reference', () => {
    const text = readFileSync(join(__dirname, '../../sample-config.yaml'), 'utf8');
    const { config } = load(text);
    expect(config.clientIdps.map((idp) => idp.name)).toEqual(['github-actions', 'gitlab']);
    expect(config.brokerIdp?.clientSecret).toBe('canary-secret-value');
    expect(config.clientIdentities[0]!.keys.AWS_DEPLOY!.outputs.AWS_REGION).toEqual({ value: 'us-east-1' });
    expect(config.settings.upstreamTimeoutMs).toBe(10_000);
  });

  it('loads the minimal base config (positive control for the cases below)', () => {
    const { config } = load(BASE);
    expect(config.accessProviders[0]!.type).toBe('aws-sts');
    expect(config.settings.allowHttpLoopback).toBe(true);
  });

  it('reports a schema error with file, line, column and field path', () => {
    const text = BASE.replace('    audience: https://broker\n', '    audience: https://broker\n    audiance: typo\n');
    expect(issuesOf(text)).toEqual(['config.yaml:11:5: clientIdps[0].audiance: unknown field']);
  });

  it('reports every problem at once', () => {
    const text = BASE.replace('idp: gh', 'idp: nope').replace('provider: aws\n', 'provider: missing\n');
    const issues = issuesOf(text);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^config\.yaml:17:5: clientIdentities\[0\]\.idp: names no configured IdP \('nope'\)$/),
        expect.stringMatching(/^config\.yaml:20:9: clientIdentities\[0\]\.keys\.AWS\.provider: names no configured access provider/),
      ]),
    );
  });

  it('reports a provider-specific key error at the key', () => {
    const text = BASE.replace('roleArn: arn:aws:iam::111122223333:role/deploy', 'roleArn: not-an-arn');
    expect(issuesOf(text)).toEqual([expect.stringMatching(/^config\.yaml:21:9: clientIdentities\[0\]\.keys\.AWS\.roleArn: must match/)]);
  });

  it('refuses an output field the provider does not produce', () => {
    const text = BASE.replace('AWS_ACCESS_KEY_ID: AccessKeyId', 'AWS_ACCESS_KEY_ID: AccessKey');
    expect(issuesOf(text)[0]).toMatch(/clientIdentities\[0\]\.keys\.AWS\.outputs\.AWS_ACCESS_KEY_ID: 'AccessKey' is not a field of aws-sts/);
  });

  it('refuses an unset ${VAR} and names it, without echoing any value', () => {
    const issues = issuesOf(BASE.replace('${BROKER_CLIENT_SECRET}', '${MISSING_SECRET}'));
    expect(issues).toEqual([expect.stringMatching(/^config\.yaml:5:3: brokerIdp\.clientSecret: .*MISSING_SECRET/)]);
  });

  it('loads plain http to loopback silently in a config marked local, with a warning per URL otherwise; refuses it to any other host', () => {
    expect(load(BASE).warnings).toEqual([]);
    const unmarked = load(BASE.replace('allowHttpLoopback: true', 'allowHttpLoopback: false')).warnings;
    expect(unmarked.map((w) => [w.path, w.code])).toEqual([
      ['brokerIdp.tokenEndpoint', 'http_loopback'],
      ['clientIdps[0].issuer', 'http_loopback'],
    ]);
    expect(unmarked[0]!.message).toContain('settings: {allowHttpLoopback: true}');
    expect(issuesOf(BASE.replace('http://127.0.0.1:8081', 'http://idp.example.com'))).toEqual([
      expect.stringMatching(/^config\.yaml:9:5: clientIdps\[0\]\.issuer: must use https \(plain http is only for loopback hosts/),
    ]);
  });

  it('refuses two IdPs with the same issuer', () => {
    const text = BASE.replace('accessProviders:', '  - name: gh2\n    issuer: http://127.0.0.1:8081\n    audience: x\naccessProviders:');
    expect(issuesOf(text)).toEqual([expect.stringMatching(/clientIdps\[1\]\.issuer: issuer is already used by IdP 'gh'/)]);
  });

  it('refuses an identity with both subject and subjectPattern, or neither', () => {
    const both = BASE.replace('idp: gh\n', 'subjectPattern: "repo:*"\n    idp: gh\n');
    expect(issuesOf(both)).toEqual([expect.stringMatching(/clientIdentities\[0\]: needs exactly one of 'subject'/)]);
  });

  it('refuses a duration outside the provider bounds', () => {
    const text = BASE.replace('        outputs: { AWS', '        duration: 60\n        outputs: { AWS');
    expect(issuesOf(text)).toEqual([expect.stringMatching(/keys\.AWS\.duration: must be between 900 and 43200 seconds/)]);
  });

  it('refuses YAML syntax errors and duplicate keys with a position', () => {
    expect(issuesOf('clientIdps: [\n')[0]).toMatch(/^config\.yaml:\d+:\d+: /);
    const dup = BASE.replace('  clientId: broker\n', '  clientId: broker\n  clientId: again\n');
    expect(issuesOf(dup)[0]).toMatch(/^config\.yaml:5:3: Map keys must be unique/);
  });

  it('refuses a provider that presents the broker token when no brokerIdp is configured', () => {
    const withoutBrokerIdp = BASE.replace(/brokerIdp:\n( {2}.*\n)+/, '');
    expect(issuesOf(withoutBrokerIdp)).toEqual([expect.stringMatching(/^config\.yaml:\d+:\d+: accessProviders\[0\]: a aws-sts provider presents the broker's own token: the config needs a 'brokerIdp' or a 'brokerIdentity'$/)]);
    // ambient AWS needs none (positive control on the same file)
    expect(load(withoutBrokerIdp.replace('    type: aws-sts\n', '    type: aws-sts\n    auth: ambient\n')).config.brokerIdp).toBeUndefined();
  });

  it('takes the server timeouts and refuses a header deadline beyond the request deadline', () => {
    const server = (fields: string) => BASE.replace('clientIdps:', `server:\n${fields}clientIdps:`);
    const good = load(server('  headersTimeoutMs: 5000\n  requestTimeoutMs: 20000\n  keepAliveTimeoutMs: 65000\n  maxRequestsPerSocket: 1000\n')).config.server;
    expect(good).toEqual({ headersTimeoutMs: 5000, requestTimeoutMs: 20000, keepAliveTimeoutMs: 65000, maxRequestsPerSocket: 1000 });
    expect(issuesOf(server('  headersTimeoutMs: 20000\n  requestTimeoutMs: 5000\n'))).toEqual([
      expect.stringMatching(/^config\.yaml:\d+:\d+: server\.headersTimeoutMs: must not exceed server\.requestTimeoutMs \(5000\)/),
    ]);
    expect(issuesOf(server('  headersTimeoutMs: 0\n'))).toEqual([expect.stringMatching(/server\.headersTimeoutMs: must be >= 100/)]);
    expect(issuesOf(server('  keepAliveTimeoutMs: 1000.5\n'))).toEqual([expect.stringMatching(/server\.keepAliveTimeoutMs: must be integer/)]);
  });

  it('refuses a policy that is not JSON', () => {
    const text = BASE.replace('        outputs: { AWS', '        policy: "{not json"\n        outputs: { AWS');
    expect(issuesOf(text)).toEqual([expect.stringMatching(/keys\.AWS\.policy: is not valid JSON/)]);
  });
});
