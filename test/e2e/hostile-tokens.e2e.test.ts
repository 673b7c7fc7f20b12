/**
 * Tokens built byte by byte (no JOSE library would build most of these) and sent to the
 * real server. Every row pairs a good token with a bad one made by the same builder from
 * the same fixture: the good one must mint (positive control), the bad one must be
 * refused with the expected status and reason, and no STS call may happen for it.
 */
import { webcrypto } from 'node:crypto';
import { startBrokerProcess, type BrokerProcess } from '../../sandbox/broker-process';
import { startTokenIssuer, type IssuerKey, type TokenIssuer } from '../../sandbox/token-issuer';
import { startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

/** An identity whose key renders the `actor` claim into its session name (no condition on it). */
const TEMPLATE_SUBJECT = 'repo:acme/templated:ref:refs/heads/main';

type Json = Record<string, unknown>;
const b64 = (text: string | Uint8Array) => Buffer.from(text).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

async function signRaw(headerText: string, payloadText: string, key: IssuerKey): Promise<string> {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  const algorithm = key.alg.startsWith('ES') ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
  const signature = await webcrypto.subtle.sign(algorithm, key.privateKey as webcrypto.CryptoKey, new TextEncoder().encode(input));
  return `${input}.${b64(new Uint8Array(signature))}`;
}

describe('hostile tokens through the real server', () => {
  let sandbox: Sandbox;
  let es: TokenIssuer;
  /** Publishes two keys under one kid (a botched rotation). */
  let twins: TokenIssuer;
  let broker: BrokerProcess;

  beforeAll(async () => {
    sandbox = await startSandbox();
    es = await startTokenIssuer({ alg: 'ES256', audience: 'https://broker.example.com' });
    twins = await startTokenIssuer({ audience: 'https://broker.example.com' });
    await twins.addKey({ kid: twins.activeKey.kid });
    const idp = (name: string, issuer: TokenIssuer, alg: string) =>
      `  - name: ${name}\n    issuer: ${issuer.issuer}\n    audience: https://broker.example.com\n    jwksUri: ${issuer.jwksUri}\n    algorithms: [${alg}]\n`;
    const identity = (name: string, subject: string, idpName: string) =>
      `  - name: ${name}\n    subject: ${subject}\n    idp: ${idpName}\n    keys:\n      AWS_READONLY:\n        provider: aws-sandbox\n        roleArn: arn:aws:iam::111122223333:role/readonly\n        outputs: { AWS_ACCESS_KEY_ID: AccessKeyId }\n`;
    const config = sandbox.config
      .replace('accessProviders:', `${idp('es-idp', es, 'ES256')}${idp('twins-idp', twins, 'RS256')}accessProviders:`)
      .replace(
        'default: github-actions',
        `${identity('es-identity', 'es-subject', 'es-idp')}${identity('twins-identity', 'twins-subject', 'twins-idp')}${identity('template-identity', TEMPLATE_SUBJECT, 'github-actions')}        roleSessionName: "ci-\${claims.actor}"\ndefault: github-actions`,
      );
    broker = await startBrokerProcess({ config, env: { BROKER_CLIENT_SECRET: sandbox.clientSecret } });
  });
  afterAll(async () => {
    await broker?.stop();
    await es?.close();
    await twins?.close();
    await sandbox?.close();
  });

  const gh = () => sandbox.github;
  const header = (extra: Json = {}) => ({ alg: 'RS256', typ: 'JWT', kid: gh().activeKey.kid, ...extra });
  const claims = (extra: Json = {}): Json => ({ ...gh().githubClaims({ repository_id: '123456789' }), ...extra });
  const without = (name: string): Json => {
    const copy = claims();
    delete copy[name];
    return copy;
  };
  const sign = (h: Json, c: Json) => signRaw(JSON.stringify(h), JSON.stringify(c), gh().activeKey);

  async function mint(token: string, keys = ['AWS_DEPLOY'], inBody = false) {
    const response = await fetch(`${broker.url}/credentials/mint`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(inBody ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(inBody ? { keys, oidcToken: token } : { keys }),
    });
    return { status: response.status, body: (await response.json()) as Json };
  }

  interface Row {
    readonly name: string;
    readonly good: () => Promise<string> | string;
    readonly bad: () => Promise<string> | string;
    readonly status: number;
    readonly reason: string | readonly string[];
    readonly keys?: string[];
    /** The keys both tokens ask for (default AWS_DEPLOY, or AWS_READONLY for the ES256 IdP). */
    readonly bothKeys?: string[];
    /** Sent as `oidcToken` (node refuses headers over 16 KiB with 431 before the broker sees them). */
    readonly inBody?: boolean;
  }

  const rows: Row[] = [
    ...['none', 'None', 'NONE', 'nOnE'].map((alg): Row => ({
      name: `alg ${alg}, empty signature`,
      good: () => sign(header(), claims()),
      bad: () => `${b64(JSON.stringify(header({ alg })))}.${b64(JSON.stringify(claims()))}.`,
      status: 401,
      reason: 'algorithm_not_allowed',
    })),
    { name: 'HS256 keyed with the issuer public key', good: () => sign(header(), claims()), bad: () => gh().hmacToken(claims()), status: 401, reason: 'algorithm_not_allowed' },
    { name: 'key supplied in the jwk header', good: () => sign(header(), claims()), bad: () => gh().embeddedJwkToken(claims()), status: 401, reason: 'token_malformed' },
    ...['jku', 'x5u'].map((name): Row => ({
      name: `${name} header pointing elsewhere`,
      good: () => sign(header(), claims()),
      bad: () => sign(header({ [name]: 'https://attacker.example/keys' }), claims()),
      status: 401,
      reason: 'token_malformed',
    })),
    { name: 'x5c header', good: () => sign(header(), claims()), bad: () => sign(header({ x5c: ['MIIB'] }), claims()), status: 401, reason: 'token_malformed' },
    { name: 'kid path injection', good: () => sign(header(), claims()), bad: () => sign(header({ kid: '../../../../dev/null' }), claims()), status: 401, reason: 'key_not_found' },
    { name: 'kid SQL injection', good: () => sign(header(), claims()), bad: () => sign(header({ kid: "x' OR '1'='1" }), claims()), status: 401, reason: 'key_not_found' },
    {
      name: 'tampered payload under a valid signature',
      good: () => sign(header(), claims()),
      bad: async () => {
        const [h, , s] = (await sign(header(), claims())).split('.');
        return `${h}.${b64(JSON.stringify(claims({ sub: 'repo:acme/app:ref:refs/heads/main', repository_id: '1' })))}.${s}`;
      },
      status: 401,
      reason: 'signature_invalid',
    },
    ...[{ toString: 1 }, 42, ['k']].map((kid): Row => ({
      name: `kid that is not a string (${JSON.stringify(kid)})`,
      good: () => sign(header(), claims()),
      bad: () => sign(header({ kid }), claims()),
      status: 401,
      reason: 'token_malformed',
    })),
    {
      name: 'padded base64url payload',
      good: () => sign(header(), claims()),
      bad: async () => {
        // A claim set whose encoding is not a multiple of 4 characters, so that it takes padding.
        for (const pad of ['x', 'xx', 'xxx']) {
          const [h, p, s] = (await sign(header(), claims({ pad }))).split('.') as [string, string, string];
          if (p.length % 4 !== 0) return `${h}.${p}${'='.repeat(4 - (p.length % 4))}.${s}`;
        }
        throw new Error('no claim set needed padding');
      },
      status: 401,
      reason: 'token_malformed',
    },
    {
      name: 'a signature spelled another way (unused bits set)',
      good: () => sign(header(), claims()),
      bad: async () => {
        // 256 signature bytes are 342 characters: the last one carries 4 unused bits.
        const [h, p, s] = (await sign(header(), claims())).split('.') as [string, string, string];
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        return `${h}.${p}.${s.slice(0, -1)}${alphabet[alphabet.indexOf(s.at(-1)!) | 1]}`;
      },
      status: 401,
      reason: 'signature_invalid',
    },
    { name: 'unknown crit header', good: () => sign(header(), claims()), bad: () => sign(header({ crit: ['exp'], exp: 1 }), claims()), status: 401, reason: 'token_malformed' },
    {
      name: 'duplicate claim names',
      good: () => sign(header(), claims()),
      bad: () => signRaw(JSON.stringify(header()), JSON.stringify(claims()).replace(/^\{/, '{"sub":"repo:evil/x:ref:refs/heads/main",'), gh().activeKey),
      status: 401,
      reason: 'token_malformed',
    },
    { name: 'JWE (five parts)', good: () => sign(header(), claims()), bad: () => `${b64('{"alg":"RSA-OAEP","enc":"A256GCM"}')}.a.b.c.d`, status: 401, reason: 'token_malformed' },
    { name: 'JSON serialisation', good: () => sign(header(), claims()), bad: async () => JSON.stringify({ payload: (await sign(header(), claims())).split('.')[1], signatures: [] }), status: 401, reason: 'token_malformed' },
    { name: 'expired', good: () => sign(header(), claims({ exp: now() + 60 })), bad: () => sign(header(), claims({ iat: now() - 900, nbf: now() - 900, exp: now() - 120 })), status: 401, reason: 'token_expired' },
    { name: 'not yet valid (nbf)', good: () => sign(header(), claims({ nbf: now() })), bad: () => sign(header(), claims({ nbf: now() + 600 })), status: 401, reason: 'token_not_yet_valid' },
    { name: 'issued in the future (iat)', good: () => sign(header(), claims({ iat: now() })), bad: () => sign(header(), claims({ iat: now() + 600, nbf: now() })), status: 401, reason: 'token_not_yet_valid' },
    { name: 'too long-lived', good: () => sign(header(), claims({ iat: now(), exp: now() + 3600 })), bad: () => sign(header(), claims({ iat: now(), exp: now() + 30 * 24 * 3600 })), status: 401, reason: 'token_claim_invalid' },
    { name: 'missing exp', good: () => sign(header(), claims()), bad: () => sign(header(), without('exp')), status: 401, reason: 'token_claim_invalid' },
    { name: 'wrong audience', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ aud: 'sts.amazonaws.com' })), status: 401, reason: 'audience_mismatch' },
    { name: 'missing audience', good: () => sign(header(), claims()), bad: () => sign(header(), without('aud')), status: 401, reason: 'audience_mismatch' },
    { name: 'audience array without ours', good: () => sign(header(), claims({ aud: ['x', 'https://broker.example.com'] })), bad: () => sign(header(), claims({ aud: ['x', 'y'] })), status: 401, reason: 'audience_mismatch' },
    { name: 'empty audience', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ aud: '' })), status: 401, reason: 'audience_mismatch' },
    { name: 'empty audience array', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ aud: [] })), status: 401, reason: 'audience_mismatch' },
    { name: 'issuer with a trailing slash', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ iss: `${gh().issuer}/` })), status: 401, reason: 'issuer_unknown' },
    { name: 'issuer in another case', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ iss: gh().issuer.toUpperCase() })), status: 401, reason: 'issuer_unknown' },
    { name: 'non-string subject', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ sub: 12345 })), status: 401, reason: 'token_claim_invalid' },
    { name: 'missing subject', good: () => sign(header(), claims()), bad: () => sign(header(), without('sub')), status: 401, reason: 'token_claim_invalid' },
    { name: 'subject over 255 characters', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ sub: `repo:acme/app:ref:refs/heads/${'m'.repeat(250)}` })), status: 401, reason: 'token_claim_invalid' },
    { name: 'unicode look-alike in the subject', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ sub: 'repo:acme/\u0430pp:ref:refs/heads/main' })), status: 403, reason: 'no_identity_matched' },
    { name: 'glob metacharacters in the subject', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ sub: 'repo:acme/*:ref:refs/heads/main' })), status: 403, reason: 'no_identity_matched' },
    { name: 'regex metacharacters in the subject', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ sub: 'repo:acme/.*:ref:refs/heads/main' })), status: 403, reason: 'no_identity_matched' },
    { name: 'typed claim mismatch (number for string)', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ repository_id: 123456789 })), status: 403, reason: 'key_not_permitted' },
    { name: 'missing claim', good: () => sign(header(), claims()), bad: () => sign(header(), without('repository_id')), status: 403, reason: 'key_not_permitted' },
    ...['__proto__', 'constructor', 'toString', 'hasOwnProperty'].map((name): Row => ({
      name: `key named ${name}`,
      good: () => sign(header(), claims()),
      bad: () => sign(header(), claims()),
      keys: [name],
      status: 403,
      reason: 'key_not_permitted',
    })),
    {
      name: 'all-zero ECDSA signature',
      good: () => es.sign({ sub: 'es-subject' }),
      bad: async () => {
        const [h, p] = (await es.sign({ sub: 'es-subject' })).split('.');
        return `${h}.${p}.${b64(new Uint8Array(64))}`;
      },
      status: 401,
      reason: 'signature_invalid',
    },
    {
      name: 'RS256 token to an ES256-only IdP',
      good: () => es.sign({ sub: 'es-subject' }),
      bad: async () => signRaw(JSON.stringify({ alg: 'RS256', kid: es.activeKey.kid }), JSON.stringify({ ...JSON.parse(Buffer.from((await es.sign({ sub: 'es-subject' })).split('.')[1]!, 'base64url').toString()) }), gh().activeKey),
      status: 401,
      reason: 'algorithm_not_allowed',
    },
    ...['at+jwt', 'application/at+jwt', 'logout+jwt', 'secevent+jwt', 'dpop+jwt', 'JOSE', ''].map((typ): Row => ({
      name: `typ ${JSON.stringify(typ)} (not an identity token)`,
      good: () => sign(header(), claims()),
      bad: () => sign(header({ typ }), claims()),
      status: 401,
      reason: 'token_type_invalid',
    })),
    { name: 'typ that is not a string', good: () => sign(header({ typ: undefined }), claims()), bad: () => sign(header({ typ: ['JWT'] }), claims()), status: 401, reason: 'token_type_invalid' },
    { name: 'typ id_token+jwt accepted, at+jwt not', good: () => sign(header({ typ: 'id_token+jwt' }), claims()), bad: () => sign(header({ typ: 'at+jwt' }), claims()), status: 401, reason: 'token_type_invalid' },
    { name: 'missing iat', good: () => sign(header(), claims()), bad: () => sign(header(), without('iat')), status: 401, reason: 'token_claim_invalid' },
    ...['\n', '\r\n', '\t', '\0', '\x1b', '\x7f', '\x85', '\u2028', '\u2029'].flatMap((char): Row[] => [
      {
        // A `*` pattern identity (app-any-branch) used to match this and mint.
        name: `subject ending in ${JSON.stringify(char)} under a glob identity`,
        good: () => sign(header(), claims({ sub: 'repo:acme/app:ref:refs/heads/feature' })),
        bad: () => sign(header(), claims({ sub: `repo:acme/app:ref:refs/heads/feature${char}` })),
        bothKeys: ['AWS_READONLY'],
        status: 401,
        reason: 'token_claim_invalid',
      },
      {
        name: `matched claim (repository_id) holding ${JSON.stringify(char)}`,
        good: () => sign(header(), claims()),
        bad: () => sign(header(), claims({ repository_id: `123456789${char}` })),
        status: 401,
        reason: 'token_claim_invalid',
      },
    ]),
    ...['\n', '\u2028'].map((char): Row => ({
      name: `claim a key template renders (actor) holding ${JSON.stringify(char)}`,
      good: () => sign(header(), claims({ sub: TEMPLATE_SUBJECT, actor: 'octocat' })),
      bad: () => sign(header(), claims({ sub: TEMPLATE_SUBJECT, actor: `octo${char}cat` })),
      bothKeys: ['AWS_READONLY'],
      status: 401,
      reason: 'token_claim_invalid',
    })),
    {
      name: 'a lone surrogate in the subject',
      good: () => sign(header(), claims({ sub: 'repo:acme/app:ref:refs/heads/feature' })),
      // JSON.stringify escapes it as \ud800; the broker's parser reads back the lone surrogate.
      bad: () => sign(header(), claims({ sub: 'repo:acme/app:ref:refs/heads/feature\ud800' })),
      bothKeys: ['AWS_READONLY'],
      status: 401,
      reason: 'token_claim_invalid',
    },
    ...(['header', 'payload'] as const).map((part): Row => ({
      // 5,000 levels fit in 16 KiB and overflow the stack of anything that recurses (JSON.stringify does at about 5,000).
      name: `${part} nested 5,000 levels deep`,
      good: () => sign(header(), claims()),
      bad: () => {
        const deep = `{"nested":${'['.repeat(5_000)}${']'.repeat(5_000)},`;
        const [h, c] = [JSON.stringify(header()), JSON.stringify(claims())];
        return signRaw(part === 'header' ? h.replace(/^\{/, deep) : h, part === 'payload' ? c.replace(/^\{/, deep) : c, gh().activeKey);
      },
      status: 401,
      reason: 'token_malformed',
      inBody: true,
    })),
    { name: 'oversized token', good: () => sign(header(), claims()), bad: () => sign(header(), claims({ padding: 'x'.repeat(20_000) })), status: 401, reason: 'token_too_large', inBody: true },
  ];

  it.each(rows.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const isEs = row.name.includes('ECDSA') || row.name.includes('ES256');
    const keys = row.bothKeys ?? (isEs ? ['AWS_READONLY'] : ['AWS_DEPLOY']);
    const good = await mint(await row.good(), keys, row.inBody);
    expect({ status: good.status, error: good.body.error }).toEqual({ status: 200, error: undefined });
    sandbox.aws.reset();
    const bad = await mint(await row.bad(), row.keys ?? keys, row.inBody);
    const reasons = typeof row.reason === 'string' ? [row.reason] : row.reason;
    expect(bad.status).toBe(row.status);
    expect(reasons).toContain(bad.body.error);
    expect(Object.keys(bad.body).sort()).toEqual(['code', 'error', 'message', 'requestId']);
    expect(sandbox.aws.calls).toBe(0);
  });

  it('tries every key the JWKS publishes under the token\'s kid', async () => {
    const [first, second] = twins.keys as [IssuerKey, IssuerKey];
    expect(second.kid).toBe(first.kid);
    // Each twin's tokens mint (only the first listed key used to be tried).
    for (const key of [first, second]) {
      const answer = await mint(await twins.sign({ sub: 'twins-subject' }, { key }), ['AWS_READONLY']);
      expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 200, error: undefined });
    }
    sandbox.aws.reset();
    const stranger = await twins.generateKey({ kid: first.kid });
    const bad = await mint(await twins.sign({ sub: 'twins-subject' }, { key: stranger }), ['AWS_READONLY']);
    expect({ status: bad.status, error: bad.body.error }).toEqual({ status: 401, error: 'signature_invalid' });
    expect(sandbox.aws.calls).toBe(0);
  });
});
