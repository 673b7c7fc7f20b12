import type { ClientIdentityConfig, KeyConfig } from '../config/types';
import { compileGlob } from './glob';
import { IdentityMatcher } from './identity-matcher';

const key = (provider: string): KeyConfig => ({ provider, outputs: { X: 'AccessKeyId' } });

describe('compileGlob (decision 1)', () => {
  it.each([
    ['repo:acme/app:ref:refs/heads/*', 'repo:acme/app:ref:refs/heads/main', true],
    ['repo:acme/app:ref:refs/heads/*', 'repo:acme/app:ref:refs/heads/feature/x', true],
    ['repo:acme/*:ref:refs/heads/main', 'repo:acme/app:ref:refs/heads/main', true],
    // `*` never crosses a colon: a pattern on the repository cannot swallow the ref part.
    ['repo:acme/*', 'repo:acme/app:ref:refs/heads/main', false],
    ['repo:acme/**', 'repo:acme/app:ref:refs/heads/main', true],
    // anchored at both ends
    ['acme/app', 'evil-acme/app', false],
    ['acme/app', 'acme/app-evil', false],
    // case-sensitive
    ['repo:Acme/*', 'repo:acme/app', false],
    // regex metacharacters are literal
    ['refs/heads/v1.0', 'refs/heads/v1x0', false],
    ['refs/heads/v1.0', 'refs/heads/v1.0', true],
    ['a+b(c)', 'a+b(c)', true],
    ['a?', 'ab', false],
    // no wildcard ever matches a control character, a line separator or a lone surrogate
    ['x:*', 'x:ab', true],
    ['x:**', 'x:a:b', true],
    ...['\n', '\r', '\t', '\0', '\x1b', '\x7f', '\x85', '\u2028', '\u2029', '\ud800'].flatMap((char): Array<[string, string, boolean]> => [
      ['x:*', `x:a${char}b`, false],
      ['x:*', `x:main${char}`, false],
      ['x:**', `x:a${char}b`, false],
      ['**', char, false],
    ]),
  ])('%s vs %j → %s', (pattern, value, expected) => {
    expect(compileGlob(pattern).test(value)).toBe(expected);
  });

  it('treats the token value as literal text, never as a pattern', () => {
    expect(compileGlob('repo:acme/app').test('repo:*')).toBe(false);
  });
});

describe('IdentityMatcher', () => {
  const identities: ClientIdentityConfig[] = [
    { name: 'pattern-first', subjectPattern: 'repo:acme/app:ref:refs/heads/*', idp: 'gh', keys: { SHARED: key('from-pattern'), P_ONLY: key('p') } },
    { name: 'exact', subject: 'repo:acme/app:ref:refs/heads/main', idp: 'gh', keys: { SHARED: key('from-exact'), E_ONLY: key('e') } },
    { name: 'other-idp', subject: 'repo:acme/app:ref:refs/heads/main', idp: 'gitlab', keys: { GITLAB: key('g') } },
    { name: 'typed', subject: 'typed', idp: 'gh', claims: { repository_id: '123', run_attempt: 1, ref_protected: true }, keys: { T: key('t') } },
    { name: 'list', subject: 'list', idp: 'gh', claims: { environment: ['staging', 'prod'] }, keys: { L: key('l') } },
    { name: 'nested', subject: 'system:serviceaccount:ci:deployer', idp: 'k8s', claims: { '/kubernetes.io/namespace': 'ci', '/kubernetes.io/serviceaccount/name': 'deployer' }, keys: { K: key('k') } },
    { name: 'claim-pattern', subject: 'cp', idp: 'gh', claimPatterns: { ref: 'refs/heads/release-*' }, keys: { R: key('r') } },
    { name: 'proto', subject: 'proto', idp: 'gh', keys: { SAFE: key('s') } },
  ];
  const matcher = new IdentityMatcher(identities);

  it('unions the keys of every matching identity; exact subject wins over a pattern (decision 4)', () => {
    const result = matcher.match('gh', 'repo:acme/app:ref:refs/heads/main', {});
    expect(result.identities.map((i) => i.name)).toEqual(['exact', 'pattern-first']);
    expect(result.keys.get('SHARED')!.key.provider).toBe('from-exact');
    expect(result.keys.get('SHARED')!.identity.name).toBe('exact');
    expect([...result.keys.keys()].sort()).toEqual(['E_ONLY', 'P_ONLY', 'SHARED']);
  });

  it('keys identities by (IdP, subject), never by subject alone', () => {
    expect(matcher.match('gitlab', 'repo:acme/app:ref:refs/heads/main', {}).identities.map((i) => i.name)).toEqual(['other-idp']);
    expect(matcher.match('nope', 'repo:acme/app:ref:refs/heads/main', {}).identities).toEqual([]);
  });

  it('compares claims with strict types (decision 2)', () => {
    const good = { repository_id: '123', run_attempt: 1, ref_protected: true };
    expect(matcher.match('gh', 'typed', good).identities).toHaveLength(1);
    expect(matcher.match('gh', 'typed', { ...good, repository_id: 123 }).identities).toHaveLength(0);
    expect(matcher.match('gh', 'typed', { ...good, run_attempt: '1' }).identities).toHaveLength(0);
    expect(matcher.match('gh', 'typed', { ...good, ref_protected: 'true' }).identities).toHaveLength(0);
    expect(matcher.match('gh', 'typed', { ...good, repository_id: null }).identities).toHaveLength(0);
    const missing: Record<string, unknown> = { ...good };
    delete missing.repository_id;
    expect(matcher.match('gh', 'typed', missing).identities).toHaveLength(0);
  });

  it('treats a list condition as any of its values', () => {
    expect(matcher.match('gh', 'list', { environment: 'prod' }).identities).toHaveLength(1);
    expect(matcher.match('gh', 'list', { environment: 'dev' }).identities).toHaveLength(0);
    expect(matcher.match('gh', 'list', { environment: ['prod'] }).identities).toHaveLength(0);
  });

  it('reads nested claims by JSON pointer', () => {
    const claims = { 'kubernetes.io': { namespace: 'ci', serviceaccount: { name: 'deployer', uid: 'u' } } };
    expect(matcher.match('k8s', 'system:serviceaccount:ci:deployer', claims).identities).toHaveLength(1);
    const other = { 'kubernetes.io': { namespace: 'prod', serviceaccount: { name: 'deployer', uid: 'u' } } };
    expect(matcher.match('k8s', 'system:serviceaccount:ci:deployer', other).identities).toHaveLength(0);
  });

  it('applies claim patterns to string claims only', () => {
    expect(matcher.match('gh', 'cp', { ref: 'refs/heads/release-1' }).identities).toHaveLength(1);
    expect(matcher.match('gh', 'cp', { ref: 'refs/heads/main' }).identities).toHaveLength(0);
    expect(matcher.match('gh', 'cp', { ref: ['refs/heads/release-1'] }).identities).toHaveLength(0);
  });

  it('looks keys up safely: prototype names are just unknown keys', () => {
    const result = matcher.match('gh', 'proto', {});
    expect(result.keys.has('SAFE')).toBe(true);
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) expect(result.keys.get(name)).toBeUndefined();
  });

  it('never matches a claim inherited from the prototype', () => {
    const m = new IdentityMatcher([{ name: 'c', subject: 's', idp: 'gh', claims: { constructor: 'x' }, keys: { A: key('a') } }]);
    expect(m.match('gh', 's', {}).identities).toHaveLength(0);
    expect(m.match('gh', 's', { constructor: 'x' }).identities).toHaveLength(1);
  });
});
