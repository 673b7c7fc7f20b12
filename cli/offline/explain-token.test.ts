import { CliError } from '../errors';
import { ExitCode } from '../exit-codes';
import { checkConfig } from './check-config';
import { explainToken } from './explain-token';

const CONFIG = `brokerIdp:
  clientId: voidkey-broker
  clientSecret: test-only
  tokenEndpoint: https://idp.example.com/token
clientIdps:
  - name: github-actions
    issuer: https://token.actions.githubusercontent.com
    audience: https://broker.example.com
  - name: gitlab
    issuer: https://gitlab.example.com
    audience: https://broker.example.com
accessProviders:
  - name: aws-prod
    type: aws-sts
    region: us-east-1
clientIdentities:
  - name: main-exact
    subject: repo:acme/app:ref:refs/heads/main
    idp: github-actions
    claims: { repository_id: "123456", run_attempt: ["1", "2"] }
    keys:
      SHARED: { provider: aws-prod, roleArn: "arn:aws:iam::111122223333:role/exact", outputs: { A: AccessKeyId } }
      DEPLOY: { provider: aws-prod, roleArn: "arn:aws:iam::111122223333:role/deploy", outputs: { A: AccessKeyId } }
  - name: any-branch
    subjectPattern: "repo:acme/app:ref:refs/heads/*"
    idp: github-actions
    claims: { repository_id: "123456" }
    keys:
      SHARED: { provider: aws-prod, roleArn: "arn:aws:iam::111122223333:role/pattern", outputs: { A: AccessKeyId } }
      READONLY: { provider: aws-prod, roleArn: "arn:aws:iam::111122223333:role/ro", outputs: { A: AccessKeyId } }
  - name: any-branch-again
    subjectPattern: "repo:acme/app:ref:refs/heads/**"
    idp: github-actions
    claims: { repository_id: "123456" }
    keys:
      READONLY: { provider: aws-prod, roleArn: "arn:aws:iam::111122223333:role/ro2", outputs: { A: AccessKeyId } }
  - name: releases
    subjectPattern: "repo:acme/app:ref:refs/tags/v*"
    idp: github-actions
    claimPatterns: { ref: "refs/tags/v*", workflow_ref: ["acme/app/.github/workflows/release.yml@*"] }
    keys:
      RELEASE: { provider: aws-prod, roleArn: "arn:aws:iam::111122223333:role/release", outputs: { A: AccessKeyId } }
  - name: gitlab-main
    subject: project_path:acme/app:ref_type:branch:ref:main
    idp: gitlab
    keys:
      DEPLOY: { provider: aws-prod, roleArn: "arn:aws:iam::111122223333:role/gl", outputs: { A: AccessKeyId } }
`;

const config = checkConfig(CONFIG, { fileName: 'c.yaml', env: {} }).config!;
const NOW = Date.UTC(2030, 0, 1);
const main = {
  iss: 'https://token.actions.githubusercontent.com',
  aud: 'https://broker.example.com',
  sub: 'repo:acme/app:ref:refs/heads/main',
  repository_id: '123456',
  run_attempt: '2',
  ref: 'refs/heads/main',
  exp: NOW / 1000 + 300,
};
const explain = (claims: Record<string, unknown>, idpName?: string) => explainToken({ config, claims, idpName, now: NOW });

describe('explainToken', () => {
  it('lists matching identities exact first and keys by decision 4, with the identities that lose', () => {
    const result = explain(main);
    expect(result).toMatchObject({ idp: 'github-actions', chosenBy: 'iss', subject: main.sub, refusals: [], otherIdpIdentities: 1 });
    expect(result.matched.map((identity) => identity.name)).toEqual(['main-exact', 'any-branch', 'any-branch-again']);
    expect(result.keys).toEqual([
      { name: 'SHARED', provider: 'aws-prod', identity: 'main-exact', overrides: [{ identity: 'any-branch', why: 'an exact subject wins over a pattern' }] },
      { name: 'DEPLOY', provider: 'aws-prod', identity: 'main-exact', overrides: [] },
      { name: 'READONLY', provider: 'aws-prod', identity: 'any-branch', overrides: [{ identity: 'any-branch-again', why: 'comes later in the file' }] },
    ]);
    expect(result.unmatched).toEqual([
      expect.objectContaining({ name: 'releases', index: 3, reasons: [
        'subject "repo:acme/app:ref:refs/heads/main" does not match subjectPattern "repo:acme/app:ref:refs/tags/v*"',
        'claim ref: expected a string matching "refs/tags/v*", got "refs/heads/main" (string)',
        'claim workflow_ref: expected a string matching "acme/app/.github/workflows/release.yml@*", got nothing (the claim is missing)',
      ] }),
    ]);
  });

  it.each([
    ['a number where the config has a string', { repository_id: 123456 }, 'claim repository_id: expected "123456" (string), got 123456 (number)'],
    ['a missing claim', { repository_id: undefined }, 'claim repository_id: expected "123456" (string), got nothing (the claim is missing)'],
    ['a null claim', { repository_id: null }, 'claim repository_id: expected "123456" (string), got null'],
    ['a value outside a list', { run_attempt: '3' }, 'claim run_attempt: expected one of "1" (string), "2" (string), got "3" (string)'],
    ['an array', { run_attempt: ['1'] }, 'claim run_attempt: expected one of "1" (string), "2" (string), got an array (["1"])'],
  ])('explains %s', (_name, change, reason) => {
    const result = explain({ ...main, ...change });
    expect(result.unmatched.find((identity) => identity.name === 'main-exact')?.reasons).toContain(reason);
  });

  it('says when * stopped at a colon that ** would cross', () => {
    const result = explain({ ...main, sub: 'repo:acme/app:ref:refs/heads/feature:x' });
    expect(result.unmatched.find((identity) => identity.name === 'any-branch')?.reasons[0]).toMatch(/\(\* does not match across ":"; \*\* does\)$/);
    expect(result.matched.map((identity) => identity.name)).toEqual(['any-branch-again']);
  });

  it('matches nothing for an unknown subject and says why for each identity of the IdP', () => {
    const result = explain({ ...main, sub: 'repo:evil/app:ref:refs/heads/main' });
    expect(result.matched).toEqual([]);
    expect(result.keys).toEqual([]);
    expect(result.unmatched.map((identity) => identity.name)).toEqual(['main-exact', 'any-branch', 'any-branch-again', 'releases']);
  });

  it('reports what the broker would refuse before matching', () => {
    const result = explain({ ...main, aud: 'sts.amazonaws.com', exp: NOW / 1000 - 100 });
    expect(result.refusals).toEqual([
      expect.stringMatching(/^audience_mismatch: the token's aud "sts.amazonaws.com" is not one IdP github-actions accepts/),
      'token_expired: the token expired 100 s ago',
    ]);
  });

  it('tolerates the configured clock skew on exp', () => {
    expect(explain({ ...main, exp: NOW / 1000 - 10 }).refusals).toEqual([]);
  });

  it('takes --idp when the claims have no iss, and refuses one that disagrees with iss', () => {
    const withoutIss: Record<string, unknown> = { ...main, iss: undefined };
    expect(explain({ ...withoutIss, sub: 'project_path:acme/app:ref_type:branch:ref:main' }, 'gitlab')).toMatchObject({ idp: 'gitlab', chosenBy: '--idp', matched: [{ name: 'gitlab-main' }] });
    expect(() => explain(main, 'gitlab')).toThrow(expect.objectContaining({ exitCode: ExitCode.Usage, message: expect.stringMatching(/idp_mismatch/) }));
    expect(() => explain(withoutIss)).toThrow(expect.objectContaining({ exitCode: ExitCode.Usage, message: expect.stringMatching(/--idp/) }));
    expect(() => explain(main, 'nope')).toThrow(/no such IdP/);
  });

  it.each([
    ['an unknown issuer', { iss: 'https://token.actions.githubusercontent.com/' }, /issuer_unknown/],
    ['a subject that is not a string', { sub: 42 }, /not a string/],
    ['no subject', { sub: undefined }, /no sub/],
  ])('refuses %s as a token problem', (_name, change, message) => {
    let error: unknown;
    try {
      explain({ ...main, ...change });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({ exitCode: ExitCode.Token, message: expect.stringMatching(message) });
  });

  it.each(['__proto__', 'constructor', 'toString'])('treats a claim named %s as an ordinary missing claim', (name) => {
    const result = explain({ ...main, repository_id: undefined, [name]: '123456' });
    expect(result.matched).toEqual([]);
  });
});
