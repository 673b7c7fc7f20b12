import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENESIS_HASH, recordHash } from '../../broker-core/audit-chain';
import { fakeJwt } from '../test-support/fake-broker';
import { runInProcess } from '../test-support/run-in-process';

const dir = mkdtempSync(join(tmpdir(), 'voidkey-offline-'));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const VALID = `brokerIdp:
  clientId: voidkey-broker
  clientSecret: \${BROKER_CLIENT_SECRET}
  tokenEndpoint: https://idp.example.com/token
clientIdps:
  - name: github-actions
    issuer: https://token.actions.githubusercontent.com
    audience: https://broker.example.com
accessProviders:
  - name: aws-prod
    type: aws-sts
clientIdentities:
  - name: app-main
    subject: repo:acme/app:ref:refs/heads/main
    idp: github-actions
    claims: { repository_id: "123456" }
    keys:
      AWS_DEPLOY: { provider: aws-prod, roleArn: "arn:aws:iam::111122223333:role/deploy", outputs: { AWS_ACCESS_KEY_ID: AccessKeyId } }
  - name: any-branch
    subjectPattern: "repo:acme/*:ref:refs/heads/*"
    idp: github-actions
    keys:
      AWS_READONLY: { provider: aws-prod, roleArn: "arn:aws:iam::111122223333:role/ro", outputs: { AWS_ACCESS_KEY_ID: AccessKeyId } }
`;
const valid = write('valid.yaml', VALID);
const broken = write('broken.yaml', VALID.replace('type: aws-sts', 'type: aws-sts\n    region: moon').replace('AccessKeyId }', 'AccessKey }'));
const envFile = write('broker.env', 'BROKER_CLIENT_SECRET="from-file"\n');

describe('voidkey config validate', () => {
  it('prints warnings and notes as file:line:col and exits 0 for a valid config', async () => {
    const run = await runInProcess(['config', 'validate', valid]);
    expect(run).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        `${valid}:3:3: note: brokerIdp.clientSecret: \${BROKER_CLIENT_SECRET} is not set here, so its value was not checked (the broker needs BROKER_CLIENT_SECRET when it starts)`,
        `${valid}:19:5: warning: clientIdentities[1]: GitHub identity pins neither repository_id nor repository_owner_id: a deleted repository or organisation name can be registered again by someone else`,
        `${valid}:20:5: warning: clientIdentities[1].subjectPattern: 'repo:acme/*:ref:refs/heads/*' matches every repository of the organisation`,
        `${valid}: ok (2 warnings, 1 note)`,
        '',
      ].join('\n'),
    });
  });

  it('fails with --strict on warnings, exit 7', async () => {
    const run = await runInProcess(['config', 'validate', '--strict', valid]);
    expect(run.code).toBe(7);
    expect(run.stdout).toMatch(/: invalid \(--strict: warnings fail\) \(2 warnings, 1 note\)\n$/);
  });

  it('prints errors as the broker does at start and exits 7', async () => {
    const run = await runInProcess(['config', 'validate', valid, broken]);
    expect(run.code).toBe(7);
    expect(run.stdout).toContain(`${broken}:12:5: accessProviders[0].region: must match`);
    expect(run.stdout).toContain(`${valid}: ok (2 warnings, 1 note)\n`);
    expect(run.stdout).toMatch(new RegExp(`${broken}: invalid \\(1 error, 1 note\\)\\n$`));
  });

  it('takes values from --env-file and the environment; --require-env makes an unset variable an error', async () => {
    expect((await runInProcess(['config', 'validate', '--env-file', envFile, valid])).stdout).not.toContain('note:');
    expect((await runInProcess(['config', 'validate', valid], { BROKER_CLIENT_SECRET: 'x' })).stdout).not.toContain('note:');
    const required = await runInProcess(['config', 'validate', '--require-env', valid]);
    expect(required.code).toBe(7);
    expect(required.stdout).toContain(`${valid}:3:3: brokerIdp.clientSecret: environment variable BROKER_CLIENT_SECRET is not set\n`);
  });

  it('prints JSON', async () => {
    const run = await runInProcess(['config', 'validate', '--format', 'json', valid, broken]);
    const report = JSON.parse(run.stdout) as { ok: boolean; files: Array<{ file: string; ok: boolean; errors: unknown[]; warnings: unknown[]; notes: unknown[] }> };
    expect(report.ok).toBe(false);
    expect(report.files.map((f) => [f.file, f.ok, f.errors.length, f.warnings.length, f.notes.length])).toEqual([
      [valid, true, 0, 2, 1],
      [broken, false, 1, 0, 1],
    ]);
    expect(report.files[1]!.errors[0]).toEqual({ file: broken, line: 12, column: 5, path: 'accessProviders[0].region', message: expect.stringMatching(/^must match/) });
  });

  it('prints GitHub annotations with --format github', async () => {
    const run = await runInProcess(['config', 'validate', '--format', 'github', broken]);
    const file = broken.replaceAll(':', '%3A').replaceAll(',', '%2C');
    expect(run.stdout.split('\n')[1]).toMatch(new RegExp(`^::error file=${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},line=12,col=5,title=voidkey config validate%3A error::accessProviders\\[0\\]\\.region: must match`));
  });

  it('exits 2 for a file it cannot read, before checking any', async () => {
    const run = await runInProcess(['config', 'validate', valid, join(dir, 'missing.yaml')]);
    expect(run).toEqual({ code: 2, stdout: '', stderr: `voidkey: usage: cannot read the config file ${join(dir, 'missing.yaml')} (ENOENT)\n` });
  });
});

describe('voidkey config explain', () => {
  const claims = { iss: 'https://token.actions.githubusercontent.com', aud: 'https://broker.example.com', sub: 'repo:acme/app:ref:refs/heads/main', repository_id: '123456' };

  it('explains a token from --token-file and exits 0', async () => {
    const tokenFile = write('token.jwt', `${fakeJwt(claims)}\n`);
    const run = await runInProcess(['config', 'explain', valid, '--token-file', tokenFile]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        "note: the token's signature is NOT checked: this shows what the config grants such claims, not that they are genuine",
        "idp:      github-actions (chosen by the token's iss https://token.actions.githubusercontent.com)",
        'subject:  repo:acme/app:ref:refs/heads/main',
        '',
        'matching identities:',
        '  app-main    clientIdentities[0]  subject "repo:acme/app:ref:refs/heads/main"',
        '  any-branch  clientIdentities[1]  subjectPattern "repo:acme/*:ref:refs/heads/*"',
        '',
        'keys it may mint:',
        '  AWS_DEPLOY    from app-main    provider aws-prod',
        '  AWS_READONLY  from any-branch  provider aws-prod',
        '',
      ].join('\n'),
    );
  });

  it('exits 4 when nothing matches and says why', async () => {
    const run = await runInProcess(['config', 'explain', valid, '--claims', JSON.stringify({ ...claims, sub: 'repo:evil/app:ref:refs/heads/main' }), '--format', 'json']);
    expect(run.code).toBe(4);
    const explanation = JSON.parse(run.stdout) as { verified: boolean; matched: unknown[]; unmatched: Array<{ name: string; reasons: string[] }> };
    expect(explanation.verified).toBe(false);
    expect(explanation.matched).toEqual([]);
    expect(explanation.unmatched.map((identity) => [identity.name, identity.reasons])).toEqual([
      ['app-main', ['subject "repo:evil/app:ref:refs/heads/main" is not "repo:acme/app:ref:refs/heads/main"']],
      ['any-branch', ['subject "repo:evil/app:ref:refs/heads/main" does not match subjectPattern "repo:acme/*:ref:refs/heads/*"']],
    ]);
  });

  it('reads --claims @file', async () => {
    const claimsFile = write('claims.json', JSON.stringify(claims));
    expect((await runInProcess(['config', 'explain', valid, '--claims', `@${claimsFile}`])).code).toBe(0);
  });

  it.each([
    ['no token', [], 2, /exactly one of --token, --token-file or --claims/],
    ['two token sources', ['--token', 'a.b.c', '--claims', '{}'], 2, /exactly one/],
    ['claims that are not JSON', ['--claims', '{'], 2, /not valid JSON/],
    ['a token that is not a JWT', ['--token', 'opaque'], 3, /not a JWT/],
    ['an unknown issuer', ['--claims', JSON.stringify({ ...claims, iss: 'https://evil.example.com' })], 3, /issuer_unknown/],
  ])('refuses %s', async (_name, args, code, message) => {
    const run = await runInProcess(['config', 'explain', valid, ...args]);
    expect(run.code).toBe(code);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });

  it('exits 7 for an invalid config, listing its errors', async () => {
    const run = await runInProcess(['config', 'explain', broken, '--claims', JSON.stringify(claims)]);
    expect(run.code).toBe(7);
    expect(run.stderr).toContain(`voidkey: invalid: ${broken} is not a valid config`);
    expect(run.stderr).toContain(`${broken}:12:5: accessProviders[0].region: must match`);
  });
});

describe('voidkey audit verify', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keyFile = write('audit.pub.pem', publicKey.export({ type: 'spki', format: 'pem' }).toString());
  const lines: string[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 0; seq < 3; seq++) {
    const event = { requestId: `r${seq}` };
    const hash = recordHash(seq, prevHash, event);
    lines.push(JSON.stringify({ seq, prevHash, hash, sig: sign(null, Buffer.from(hash), privateKey).toString('base64'), event }));
    prevHash = hash;
  }
  const good = write('audit.jsonl', `${lines.join('\n')}\n`);
  const bad = write('audit-bad.jsonl', `${[lines[0], lines[2]].join('\n')}\n`);

  it('prints ok, the counts and the last hash', async () => {
    expect(await runInProcess(['audit', 'verify', good, '--public-key', keyFile])).toEqual({
      code: 0,
      stderr: '',
      stdout: `ok: 3 records (3 signed), last hash ${prevHash}\nsignatures: every record verified with ${keyFile}\n`,
    });
    expect((await runInProcess(['audit', 'verify', good])).stdout).toBe(`ok: 3 records (3 signed), last hash ${prevHash}\nsignatures: not checked (pass --public-key to check them)\n`);
  });

  it('prints FILE:LINE: record SEQ: problem and exits 7', async () => {
    expect(await runInProcess(['audit', 'verify', bad])).toEqual({ code: 7, stderr: '', stdout: `${bad}:2: record 2: records 1..1 are missing (removed)\n` });
    const json = await runInProcess(['audit', 'verify', bad, '--format', 'json']);
    expect(JSON.parse(json.stdout)).toEqual({ file: bad, ok: false, line: 2, seq: 2, problem: 'records 1..1 are missing (removed)', signaturesChecked: false });
  });

  it('exits 2 for a file or key it cannot read', async () => {
    expect(await runInProcess(['audit', 'verify', join(dir, 'nope.jsonl')])).toEqual({ code: 2, stdout: '', stderr: `voidkey: usage: cannot read the audit file ${join(dir, 'nope.jsonl')} (ENOENT)\n` });
    expect((await runInProcess(['audit', 'verify', good, '--public-key', join(dir, 'nope.pem')])).code).toBe(2);
    expect((await runInProcess(['audit', 'verify', good, '--public-key', envFile])).stderr).toBe('voidkey: usage: --public-key: not a PEM public key\n');
  });
});
