import { checkConfig } from './check-config';

const CONFIG = `brokerIdp:
  issuer: https://idp.example.com/realms/broker
  clientId: voidkey-broker
  clientSecret: \${BROKER_CLIENT_SECRET}
  tokenEndpoint: https://idp.example.com/realms/broker/protocol/openid-connect/token
clientIdps:
  - name: github-actions
    issuer: https://token.actions.githubusercontent.com
    audience: https://broker.example.com
accessProviders:
  - name: aws-prod
    type: aws-sts
    region: us-east-1
  - name: azure-prod
    type: azure
    tenantId: \${AZURE_TENANT_ID}
clientIdentities:
  - name: app-main
    subject: repo:acme/app:ref:refs/heads/main
    idp: github-actions
    claims: { repository_id: "123456" }
    keys:
      AWS_DEPLOY:
        provider: aws-prod
        roleArn: arn:aws:iam::111122223333:role/deploy
        outputs: { AWS_ACCESS_KEY_ID: AccessKeyId }
`;

const SECRETS = { BROKER_CLIENT_SECRET: 's3cret', AZURE_TENANT_ID: '00000000-0000-0000-0000-000000000000' };

describe('checkConfig', () => {
  it('passes a valid config with every variable set (positive control)', () => {
    const check = checkConfig(CONFIG, { fileName: 'c.yaml', env: SECRETS });
    expect(check).toMatchObject({ errors: [], warnings: [], notes: [] });
    expect(check.config?.accessProviders[1]).toMatchObject({ tenantId: SECRETS.AZURE_TENANT_ID });
  });

  it('turns unset variables into located notes and checks the rest with placeholders', () => {
    const check = checkConfig(CONFIG, { fileName: 'c.yaml', env: {} });
    expect(check.errors).toEqual([]);
    // A GUID field cannot be loaded with a placeholder: there is nothing to explain against.
    expect(check.config).toBeUndefined();
    expect(check.notes.map((note) => [note.line, note.path, note.message])).toEqual([
      [4, 'brokerIdp.clientSecret', expect.stringMatching(/^\$\{BROKER_CLIENT_SECRET\} is not set here, so its value was not checked/)],
      [16, 'accessProviders[1].tenantId', expect.stringMatching(/^\$\{AZURE_TENANT_ID\} is not set here/)],
      // The placeholder is not a GUID: the complaint about it is a note too, never an error.
      [16, 'accessProviders[1].tenantId', expect.stringMatching(/^not checked without AZURE_TENANT_ID: must match/)],
    ]);
  });

  it('loads the config when the placeholders pass the schema', () => {
    const check = checkConfig(CONFIG, { fileName: 'c.yaml', env: { AZURE_TENANT_ID: SECRETS.AZURE_TENANT_ID } });
    expect(check).toMatchObject({ errors: [], warnings: [], notes: [expect.objectContaining({ path: 'brokerIdp.clientSecret' })] });
    expect(check.config?.brokerIdp?.clientSecret).toBe('${BROKER_CLIENT_SECRET}');
  });

  it('still finds real errors while variables are unset', () => {
    const broken = CONFIG.replace('region: us-east-1', 'region: moon');
    const check = checkConfig(broken, { fileName: 'c.yaml', env: {} });
    expect(check.config).toBeUndefined();
    expect(check.errors).toEqual([expect.objectContaining({ file: 'c.yaml', line: 13, column: 5, path: 'accessProviders[0].region' })]);
    expect(check.notes).toHaveLength(3);
  });

  it('makes unset variables errors with requireEnv, worded as the broker words them at start', () => {
    const check = checkConfig(CONFIG, { fileName: 'c.yaml', env: { AZURE_TENANT_ID: SECRETS.AZURE_TENANT_ID }, requireEnv: true });
    expect(check.config).toBeUndefined();
    expect(check.errors).toEqual([{ file: 'c.yaml', line: 4, column: 3, path: 'brokerIdp.clientSecret', message: 'environment variable BROKER_CLIENT_SECRET is not set' }]);
    expect(check.notes).toEqual([]);
  });

  it('reports an invalid reference as an error, unset variables or not', () => {
    const check = checkConfig(CONFIG.replace('${AZURE_TENANT_ID}', '${not-a-name}'), { fileName: 'c.yaml', env: {} });
    expect(check.errors).toEqual([expect.objectContaining({ line: 16, message: "'${not-a-name}' is not a valid environment variable reference" })]);
  });

  it('returns lint findings as warnings', () => {
    const check = checkConfig(CONFIG.replace('claims: { repository_id: "123456" }', 'claims: { ref: refs/heads/main }'), { fileName: 'c.yaml', env: SECRETS });
    expect(check.errors).toEqual([]);
    expect(check.warnings).toEqual([expect.objectContaining({ line: 18, path: 'clientIdentities[0]', message: expect.stringMatching(/pins neither repository_id/) })]);
  });

  it('locates YAML syntax errors', () => {
    const check = checkConfig('clientIdps:\n  - name: [unclosed\n', { fileName: 'c.yaml', env: {} });
    expect(check.errors[0]).toMatchObject({ file: 'c.yaml', line: expect.any(Number), column: expect.any(Number) });
  });
});
