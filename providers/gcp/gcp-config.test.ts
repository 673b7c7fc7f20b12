import { stringify } from 'yaml';
import { ConfigError, createProviderRegistry, loadConfig, type ConfigIssue } from '../../broker-core';
import { gcpDurationBounds, projectIdOf, type GcpProviderConfig } from './gcp-config';
import { gcpProvider } from './index';

const WIP = '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-pool/providers/voidkey';

function configText(provider: Record<string, unknown> = {}, key: Record<string, unknown> = {}): string {
  return stringify({
    brokerIdp: { clientId: 'voidkey-broker', clientSecret: 'test-only', tokenEndpoint: 'https://idp.example.com/token' },
    clientIdps: [{ name: 'ci', issuer: 'https://ci.example.com', audience: 'voidkey' }],
    accessProviders: [{ name: 'gcp-prod', type: 'gcp', workloadIdentityProvider: WIP, ...provider }],
    clientIdentities: [
      {
        subject: 'repo:acme/app:ref:refs/heads/main',
        idp: 'ci',
        keys: {
          GCP: {
            provider: 'gcp-prod',
            serviceAccount: 'deployer@acme-prod.iam.gserviceaccount.com',
            outputs: { CLOUDSDK_AUTH_ACCESS_TOKEN: 'AccessToken', GOOGLE_CLOUD_PROJECT: 'ProjectId' },
            ...key,
          },
        },
      },
    ],
  });
}

function problems(text: string): ConfigIssue[] {
  try {
    loadConfig(text, { fileName: 'config.yaml', env: {}, providers: createProviderRegistry([gcpProvider]) });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
}

const KEY = 'clientIdentities[0].keys.GCP';

describe('gcp config', () => {
  it('accepts a complete provider entry and key (the control for every rejection below)', () => {
    expect(
      problems(
        configText(
          { stsEndpoint: 'https://sts.googleapis.com/v1/token', iamCredentialsEndpoint: 'https://iamcredentials.googleapis.com', brokerAuth: { audience: 'voidkey-gcp' }, defaultDuration: 1800 },
          { scopes: ['https://www.googleapis.com/auth/cloud-platform'], duration: 900, maxDuration: 3600, projectId: 'acme-prod', delegates: ['hop@acme-prod.iam.gserviceaccount.com'] },
        ),
      ),
    ).toEqual([]);
    expect(problems(configText({}, { extendedLifetime: true, duration: 43_200 }))).toEqual([]);
  });

  it.each([
    ['the https form of the provider name', { workloadIdentityProvider: WIP.replace('//', 'https://') }, {}, 'accessProviders[0].workloadIdentityProvider', /must match/],
    ['a pool name instead of a provider', { workloadIdentityProvider: WIP.replace('/providers/voidkey', '') }, {}, 'accessProviders[0].workloadIdentityProvider', /must match/],
    ['an unknown provider field', { region: 'us-central1' }, {}, 'accessProviders[0].region', /unknown field/],
    ['an http endpoint outside loopback', { stsEndpoint: 'http://sts.example.com/v1/token' }, {}, 'accessProviders[0].stsEndpoint', /https/],
    ['a defaultDuration beyond 12 hours', { defaultDuration: 50_000 }, {}, 'accessProviders[0].defaultDuration', /43200/],
    ['a key without serviceAccount', {}, { serviceAccount: undefined }, KEY, /missing required field 'serviceAccount'/],
    ['a serviceAccount that is no service account email', {}, { serviceAccount: 'deployer@example.com' }, `${KEY}.serviceAccount`, /must match/],
    ['an empty scopes list', {}, { scopes: [] }, `${KEY}.scopes`, /fewer than 1/],
    ['a duration over an hour without extendedLifetime', {}, { duration: 7_200 }, `${KEY}.duration`, /between 60 and 3600/],
    ['a maxDuration over 12 hours even when extended', {}, { extendedLifetime: true, maxDuration: 50_000 }, `${KEY}.maxDuration`, /between 60 and 43200/],
    ['an output field GCP does not return', {}, { outputs: { KEY_ID: 'AccessKeyId' } }, `${KEY}.outputs.KEY_ID`, /not a field of gcp/],
    ['ProjectId from an account naming no project', {}, { serviceAccount: '123-compute@developer.gserviceaccount.com' }, `${KEY}.outputs`, /set 'projectId'/],
    ['the account delegating to itself', {}, { delegates: ['deployer@acme-prod.iam.gserviceaccount.com'] }, `${KEY}.delegates`, /own serviceAccount/],
    ['an unknown key field', {}, { roleArn: 'arn:aws:iam::1:role/x' }, `${KEY}.roleArn`, /unknown field/],
  ])('rejects %s', (_label, provider, key, path, message) => {
    const found = problems(configText(provider, key));
    expect(found).toEqual(expect.arrayContaining([expect.objectContaining({ path, message: expect.stringMatching(message) })]));
    expect(found.every((issue) => issue.file === 'config.yaml' && issue.line > 0)).toBe(true);
  });

  it('lets a key naming no derivable project output ProjectId once it sets projectId', () => {
    expect(problems(configText({}, { serviceAccount: '123-compute@developer.gserviceaccount.com', projectId: 'acme-prod' }))).toEqual([]);
  });
});

describe('gcp duration bounds', () => {
  const provider = { name: 'gcp', type: 'gcp', workloadIdentityProvider: WIP } as GcpProviderConfig;
  it.each([
    [{}, { min: 60, max: 3600, default: 3600 }],
    [{ extendedLifetime: false }, { min: 60, max: 3600, default: 3600 }],
    [{ extendedLifetime: true }, { min: 60, max: 43200, default: 3600 }],
  ])('for a key %j are %j', (extra, bounds) => {
    expect(gcpDurationBounds(provider, { provider: 'gcp', outputs: {}, serviceAccount: 'a@b.iam.gserviceaccount.com', ...extra })).toEqual(bounds);
  });
});

describe('projectIdOf', () => {
  it.each([
    ['deployer@acme-prod.iam.gserviceaccount.com', 'acme-prod'],
    ['acme-prod@appspot.gserviceaccount.com', 'acme-prod'],
    ['ci@my-project.example.com.iam.gserviceaccount.com', 'example.com:my-project'],
    ['123456789-compute@developer.gserviceaccount.com', undefined],
    ['service-123@gcp-sa-cloudbuild.iam.gserviceaccount.com', undefined],
  ])('%s → %s', (email, project) => {
    expect(projectIdOf(email)).toBe(project);
  });
});
