import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, createProviderRegistry, loadConfig, type ConfigIssue } from '../../broker-core';
import { createTestTls } from '../../sandbox/entra-emulator';
import { azureDurationBounds } from './azure-config';
import { azureProvider } from './index';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const APP = '11111111-2222-4333-8444-555555555555';

let dir: string;
let caFile: string;
let garbageFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'voidkey-azure-config-'));
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, createTestTls(dir).ca);
  garbageFile = join(dir, 'garbage.pem');
  writeFileSync(garbageFile, 'not a certificate\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configText(provider: Record<string, unknown> = {}, key: Record<string, unknown> = {}, settings: Record<string, unknown> = {}): string {
  return stringify({
    settings,
    brokerIdp: { clientId: 'voidkey-broker', clientSecret: 'test-only', tokenEndpoint: 'https://idp.example.com/token' },
    clientIdps: [{ name: 'ci', issuer: 'https://ci.example.com', audience: 'voidkey' }],
    accessProviders: [{ name: 'azure-prod', type: 'azure', tenantId: TENANT, ...provider }],
    clientIdentities: [
      {
        subject: 'repo:acme/app:ref:refs/heads/main',
        idp: 'ci',
        keys: {
          AZURE: {
            provider: 'azure-prod',
            clientId: APP,
            scope: 'https://management.azure.com/.default',
            outputs: { ARM_ACCESS_TOKEN: 'AccessToken', ARM_TENANT_ID: 'TenantId', ARM_CLIENT_ID: 'ClientId', EXPIRES: 'ExpiresOn' },
            ...key,
          },
        },
      },
    ],
  });
}

function problems(text: string): ConfigIssue[] {
  try {
    loadConfig(text, { fileName: 'config.yaml', env: {}, providers: createProviderRegistry([azureProvider]) });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
}

const KEY = 'clientIdentities[0].keys.AZURE';
const PROVIDER = 'accessProviders[0]';

describe('azure config', () => {
  it('accepts a complete provider entry and key (the control for every rejection below)', () => {
    expect(
      problems(
        configText(
          { authorityHost: 'https://login.microsoftonline.us', brokerAuth: { audience: 'api://AzureADTokenExchangeUSGov' }, caFile },
          { tenantId: '0b3f2d6e-1111-4c2a-9d3e-5a6b7c8d9e0f', duration: 3600 },
        ),
      ),
    ).toEqual([]);
    expect(problems(configText({ authorityHost: 'https://127.0.0.1:8443' }, {}, { allowHttpLoopback: true }))).toEqual([]);
  });

  it.each([
    ['a tenantId that is no GUID', { tenantId: 'contoso.onmicrosoft.com' }, {}, {}, `${PROVIDER}.tenantId`, /must match/],
    ['a provider without tenantId', { tenantId: undefined }, {}, {}, PROVIDER, /missing required field 'tenantId'/],
    ['plain http for the authority, even on loopback in a local setup', { authorityHost: 'http://127.0.0.1:8080' }, {}, { allowHttpLoopback: true }, `${PROVIDER}.authorityHost`, /https/],
    ['a caFile that does not exist', { caFile: '/nonexistent/ca.pem' }, {}, {}, `${PROVIDER}.caFile`, /cannot be read \(ENOENT\)/],
    ['a caFile without a certificate', { caFile: 'GARBAGE' }, {}, {}, `${PROVIDER}.caFile`, /no PEM certificate/],
    ['an unknown provider field', { region: 'westeurope' }, {}, {}, `${PROVIDER}.region`, /unknown field/],
    ['a clientId that is no GUID', {}, { clientId: 'deploy-app' }, {}, `${KEY}.clientId`, /must match/],
    ['a key without scope', {}, { scope: undefined }, {}, KEY, /missing required field 'scope'/],
    ['a scope without /.default', {}, { scope: 'https://management.azure.com/user_impersonation' }, {}, `${KEY}.scope`, /must match/],
    ['a duration Entra would not honour', {}, { duration: 900 }, {}, `${KEY}.duration`, /between 3600 and 3600/],
    ['an output field Azure does not return', {}, { outputs: { SECRET: 'SecretAccessKey' } }, {}, `${KEY}.outputs.SECRET`, /not a field of azure/],
    ['an unknown key field', {}, { serviceAccount: 'x@y.iam.gserviceaccount.com' }, {}, `${KEY}.serviceAccount`, /unknown field/],
  ])('rejects %s', (_label, provider, key, settings, path, message) => {
    const withFiles = Object.fromEntries(Object.entries(provider).map(([k, v]) => [k, v === 'GARBAGE' ? garbageFile : v]));
    const found = problems(configText(withFiles, key, settings));
    expect(found).toEqual(expect.arrayContaining([expect.objectContaining({ path, message: expect.stringMatching(message) })]));
    expect(found.every((issue) => issue.file === 'config.yaml' && issue.line > 0)).toBe(true);
  });

  it('offers exactly the hour Entra issues, since the caller cannot choose the lifetime', () => {
    expect(azureDurationBounds()).toEqual({ min: 3600, max: 3600, default: 3600 });
  });
});
