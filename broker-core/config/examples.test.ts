import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, formatIssue } from '..';
import { builtInProviders } from '../../providers';
import { lint } from './check-semantics';

const dir = join(__dirname, '../../config/examples');
const env = { BROKER_CLIENT_SECRET: 'example-secret' };

describe('config/examples', () => {
  const files = readdirSync(dir).filter((name) => name.endsWith('.yaml'));

  it('has the presets the docs promise', () => {
    expect(files.sort()).toEqual(['auth0-okta-keycloak.yaml', 'github-actions.yaml', 'gitlab-ci.yaml', 'kubernetes.yaml']);
  });

  it.each(files)('%s loads without errors or warnings', (file) => {
    const { config, warnings } = loadConfig(readFileSync(join(dir, file), 'utf8'), { fileName: file, env, providers: builtInProviders() });
    expect(warnings.map(formatIssue)).toEqual([]);
    expect(config.clientIdentities.length).toBeGreaterThan(0);
  });
});

describe('config lint', () => {
  const base = () => {
    const { config } = loadConfig(readFileSync(join(dir, 'github-actions.yaml'), 'utf8'), { fileName: 'x', env, providers: builtInProviders() });
    return config;
  };

  it('is quiet on the GitHub preset (positive control)', () => {
    expect(lint(base())).toEqual([]);
  });

  it.each([
    ['**', /matches every subject/],
    ['*', /matches every subject/],
    ['repo:acme/**', /crosses ':' boundaries/],
    ['repo:acme/*:ref:refs/heads/main', /every repository of the organisation/],
  ])('warns on the broad pattern %s', (pattern, message) => {
    const config = base();
    const identity = config.clientIdentities[3]!;
    identity.subjectPattern = pattern;
    identity.claims = { repository_owner_id: '654321' };
    expect(lint(config).map((w) => w.message)).toEqual([expect.stringMatching(message)]);
  });

  it('warns on a GitHub identity that pins no repository or owner id', () => {
    const config = base();
    config.clientIdentities[0]!.claims = {};
    expect(lint(config)).toEqual([{ path: ['clientIdentities', 0], message: expect.stringMatching(/pins neither repository_id nor repository_owner_id/) }]);
  });

  it('warns on an audience that belongs to another relying party', () => {
    const config = base();
    config.clientIdps[0]!.audience = 'sts.amazonaws.com';
    expect(lint(config)).toEqual([{ path: ['clientIdps', 0, 'audience'], message: expect.stringMatching(/AWS STS/) }]);
  });

  it('warns on an http issuer', () => {
    const config = base();
    config.clientIdps[0]!.issuer = 'http://127.0.0.1:8080';
    expect(lint(config).map((w) => w.message)).toContain('plain http issuer: acceptable for a local setup only');
  });
});
