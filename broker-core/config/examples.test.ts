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
    expect(lint(config)).toEqual([{ path: ['clientIdentities', 0], code: 'unpinned_repository', message: expect.stringMatching(/pins neither repository_id nor repository_owner_id/) }]);
  });

  it('warns on an audience that belongs to another relying party', () => {
    const config = base();
    config.clientIdps[0]!.audience = 'sts.amazonaws.com';
    expect(lint(config)).toEqual([{ path: ['clientIdps', 0, 'audience'], code: 'foreign_audience', message: expect.stringMatching(/AWS STS/) }]);
  });

  // Every issuer preset's shape: names are first come, first served, so a glob over an
  // organisation, group or namespace name lets whoever registers a matching name in.
  it.each([
    ['repo:acme*', /every repository of every organisation whose name matches 'acme\*'/],
    ['repo:*/app:ref:refs/heads/main', /every organisation whose name matches '\*'/],
    ['repo:acme/app-*:ref:refs/heads/main', /every repository of the organisation whose name matches the glob/],
    ['project_path:acme/*:ref_type:branch:ref:main', /every project of the group/],
    ['project_path:acme*', /every project of every group whose name matches 'acme\*'/],
    ['project_path:*', /every project of every group/],
    ['project_path:acme/platform/*:ref_type:branch:ref:main', /every project of the group/],
    ['system:serviceaccount:ci:*', /every service account of namespace 'ci'/],
    ['system:serviceaccount:*:deployer', /every namespace whose name matches '\*'/],
    ['system:serviceaccount:team-*:deployer', /every namespace whose name matches 'team-\*'/],
    ['auth0|*', /opaque id/],
  ])('warns on the broad pattern %s, whatever the issuer', (pattern, message) => {
    const config = base();
    const identity = config.clientIdentities[3]!;
    identity.subjectPattern = pattern;
    identity.claims = undefined;
    config.clientIdps[0]!.issuer = 'https://idp.example.com'; // not GitHub: only the pattern speaks
    expect(lint(config)).toEqual([{ path: ['clientIdentities', 3, 'subjectPattern'], code: 'broad_pattern', message: expect.stringMatching(message) }]);
  });

  it.each([
    'repo:acme/app:ref:refs/heads/*',
    'repo:acme/app:environment:*',
    'project_path:acme/app:ref_type:branch:ref:release-*',
    'system:serviceaccount:ci:deployer',
    'auth0|507f1f77bcf86cd799439011',
  ])('stays quiet on the scoped pattern %s (control)', (pattern) => {
    const config = base();
    const identity = config.clientIdentities[3]!;
    identity.subjectPattern = pattern;
    identity.claims = undefined;
    config.clientIdps[0]!.issuer = 'https://idp.example.com';
    expect(lint(config)).toEqual([]);
  });

  it('an organisation-wide pattern is fine once a repository or reusable workflow is pinned', () => {
    const config = base();
    const identity = config.clientIdentities[3]!;
    identity.subjectPattern = 'repo:acme/*:ref:refs/heads/main';
    identity.claims = { repository_owner_id: '654321' };
    expect(lint(config).map((w) => w.code)).toEqual(['broad_pattern']);
    identity.claims = { repository_owner_id: '654321', job_workflow_ref: 'acme/workflows/.github/workflows/deploy.yml@refs/heads/main' };
    expect(lint(config)).toEqual([]);
  });
});
