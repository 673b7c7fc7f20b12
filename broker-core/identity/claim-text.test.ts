import { claimWithControlCharacter, hasControlCharacter, templateClaimNames } from './claim-text';
import { IdentityMatcher } from './identity-matcher';

const CONTROLS = ['\n', '\r', '\t', '\0', '\x1b', '\x7f', '\x80', '\x85', '\x9f', '\u2028', '\u2029', '\ud800', '\udfff'];

describe('hasControlCharacter', () => {
  it.each(['repo:acme/app:ref:refs/heads/main', 'système:compte/ünïcode', 'emoji 🚀 pair', 'spaces and\u00a0nbsp', ''])('passes clean text %j (positive control)', (text) => {
    expect(hasControlCharacter(text)).toBe(false);
  });

  it.each(CONTROLS)('finds %j anywhere in the text', (char) => {
    expect(hasControlCharacter(`a${char}b`)).toBe(true);
    expect(hasControlCharacter(`main${char}`)).toBe(true);
    expect(hasControlCharacter(char)).toBe(true);
  });
});

describe('claimWithControlCharacter', () => {
  const clean = { repository: 'acme/app', run_attempt: 1, groups: ['a', 'b'], 'kubernetes.io': { namespace: 'ci', pod: { name: 'p' } }, address: { formatted: 'line 1\nline 2' } };

  it('passes clean claims, and ignores claims it was not asked about (positive control)', () => {
    expect(claimWithControlCharacter(clean, ['repository', 'run_attempt', 'groups', '/kubernetes.io/namespace', 'kubernetes.io', 'missing'])).toBeUndefined();
    // A multi-line postal address (OIDC Core 5.1.1) is fine while nothing matches on it.
    expect(claimWithControlCharacter(clean, ['repository'])).toBeUndefined();
    expect(claimWithControlCharacter(clean, ['address'])).toBe('address');
  });

  it.each([
    ['a string claim', { ...clean, repository: 'acme/app\n' }, 'repository'],
    ['a string inside an array', { ...clean, groups: ['a', 'b\u2028'] }, 'groups'],
    ['a string nested deeper', { ...clean, groups: [['a', ['b\0']]] }, 'groups'],
    ['a JSON pointer target', { ...clean, 'kubernetes.io': { namespace: 'ci\r', pod: { name: 'p' } } }, '/kubernetes.io/namespace'],
    ['an object member value', { ...clean, 'kubernetes.io': { namespace: 'ci', pod: { name: 'p\t' } } }, 'kubernetes.io'],
    ['an object member name', { ...clean, 'kubernetes.io': { namespace: 'ci', 'po\nd': {} } }, 'kubernetes.io'],
  ])('names the claim when %s holds one', (_name, claims, name) => {
    expect(claimWithControlCharacter(clean, [name])).toBeUndefined();
    expect(claimWithControlCharacter(claims, ['run_attempt', name])).toBe(name);
  });
});

describe('templateClaimNames', () => {
  it('collects every ${claims.NAME} in a key config, nested anywhere', () => {
    const key = {
      provider: 'aws',
      sourceIdentity: '${claims.actor}',
      roleSessionName: 'ci-${claims.run_id}-${claims./kubernetes.io/pod/name}',
      sessionTags: { repo: '${claims.repository}', fixed: 'x' },
      list: ['${claims.ref}'],
      outputs: { A: 'AccessKeyId' },
    };
    expect([...templateClaimNames(key)].sort()).toEqual(['/kubernetes.io/pod/name', 'actor', 'ref', 'repository', 'run_id']);
  });
});

describe('IdentityMatcher.claimsUsedBy', () => {
  it('names, per IdP, the claims identities match on and the claims their keys render', () => {
    const matcher = new IdentityMatcher([
      { subject: 's', idp: 'gh', claims: { repository_id: '1' }, claimPatterns: { ref: 'refs/heads/*' }, keys: { A: { provider: 'p', outputs: {}, sessionTags: { actor: '${claims.actor}' } } } },
      { subjectPattern: 'system:*', idp: 'k8s', claims: { '/kubernetes.io/namespace': 'ci' }, keys: { B: { provider: 'p', outputs: {} } } },
    ]);
    expect([...matcher.claimsUsedBy('gh')].sort()).toEqual(['actor', 'ref', 'repository_id']);
    expect([...matcher.claimsUsedBy('k8s')]).toEqual(['/kubernetes.io/namespace']);
    expect([...matcher.claimsUsedBy('other')]).toEqual([]);
  });
});
