import { mintAsMain, startSandbox, type Sandbox } from './sandbox';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';

jest.setTimeout(90_000);

/** A client IdP of its own per fault, so each starts cold with its own cooldown. */
interface FaultRow {
  readonly idp: string;
  /** Configured with the issuer's `jwksUri` (true) or left to discovery (false), or this URL. */
  readonly jwksUri: boolean | ((issuer: TokenIssuer) => string);
  readonly fault: (issuer: TokenIssuer) => void;
  readonly status: number;
  readonly error: string;
  /** The endpoint one failed fetch is counted on. */
  readonly counted: 'jwks' | 'discovery';
  /** What the audit event's operator detail says. */
  readonly detail: RegExp;
}

const otherOrigin = (issuer: TokenIssuer) => issuer.jwksUri.replace('127.0.0.1', 'localhost');

const ROWS: readonly FaultRow[] = [
  { idp: 'jwks-404', jwksUri: true, fault: (i) => i.failJwks('always', 404), status: 503, error: 'idp_unavailable', counted: 'jwks', detail: /JWKS answered HTTP 404/ },
  { idp: 'jwks-500', jwksUri: true, fault: (i) => i.failJwks('always', 500), status: 503, error: 'idp_unavailable', counted: 'jwks', detail: /JWKS answered HTTP 500/ },
  { idp: 'jwks-503', jwksUri: true, fault: (i) => i.failJwks('always', 503), status: 503, error: 'idp_unavailable', counted: 'jwks', detail: /JWKS answered HTTP 503/ },
  { idp: 'jwks-keys-null', jwksUri: true, fault: (i) => i.setJwks({ keys: null }), status: 503, error: 'idp_unavailable', counted: 'jwks', detail: /JWKS has no "keys" array/ },
  { idp: 'jwks-hang', jwksUri: true, fault: (i) => i.hangJwks('always'), status: 504, error: 'idp_timeout', counted: 'jwks', detail: /JWKS did not answer within 2000 ms/ },
  { idp: 'discovery-500', jwksUri: false, fault: (i) => i.failDiscovery('always', 500), status: 503, error: 'idp_unavailable', counted: 'discovery', detail: /discovery document answered HTTP 500/ },
  { idp: 'discovery-not-json', jwksUri: false, fault: (i) => i.setDiscovery('<html>maintenance</html>'), status: 503, error: 'idp_unavailable', counted: 'discovery', detail: /discovery document is not a JSON object/ },
  { idp: 'discovery-no-jwks-uri', jwksUri: false, fault: (i) => i.setDiscovery({ jwks_uri: undefined }), status: 503, error: 'idp_unavailable', counted: 'discovery', detail: /discovery document has no jwks_uri/ },
  { idp: 'discovery-other-issuer', jwksUri: false, fault: (i) => i.setDiscovery({ issuer: 'https://evil.example.com' }), status: 503, error: 'idp_unavailable', counted: 'discovery', detail: /discovery document names issuer "https:\/\/evil\.example\.com"/ },
  { idp: 'discovery-other-origin', jwksUri: false, fault: (i) => i.setDiscovery({ jwks_uri: otherOrigin(i) }), status: 503, error: 'idp_unavailable', counted: 'discovery', detail: /jwks_uri is on http:\/\/localhost:\d+, another origin than the issuer; set the IdP's jwksUri/ },
];

/** Not faults: an empty key set is an answer (decision 5); a jwks_uri the config names may be anywhere. */
const EMPTY_JWKS = 'jwks-empty';
const NAMED_ELSEWHERE = 'named-other-origin';

/**
 * The client IdP side failing through the real server: each fault is a failed fetch with a
 * specific answer, tried once per cooldown however many requests arrive, never an empty
 * key set; `/readyz` costs no fetch per call; a hanging broker-token endpoint is a 504.
 */
describe('IdP faults through the real server', () => {
  let sandbox: Sandbox;
  const issuers = new Map<string, TokenIssuer>();
  let extraIdps = '';

  beforeAll(async () => {
    for (const name of [...ROWS.map((row) => row.idp), EMPTY_JWKS, NAMED_ELSEWHERE]) {
      issuers.set(name, await startTokenIssuer({ audience: 'https://broker.example.com' }));
    }
    const jwksUriOf = (name: string): string | undefined => {
      if (name === EMPTY_JWKS) return issuers.get(name)!.jwksUri;
      if (name === NAMED_ELSEWHERE) return otherOrigin(issuers.get(name)!);
      const row = ROWS.find((r) => r.idp === name)!;
      return row.jwksUri === true ? issuers.get(name)!.jwksUri : undefined;
    };
    extraIdps = [...issuers]
      .map(([name, issuer]) => {
        const uri = jwksUriOf(name);
        return `  - name: ${name}\n    issuer: ${issuer.issuer}\n    audience: ${issuer.audience}\n${uri === undefined ? '' : `    jwksUri: ${uri}\n`}`;
      })
      .join('');
    // The first broker retries after 1 s, for the recovery test; the cold one after it waits
    // 600 s, so no retry falls inside this file's run and every count below is exact.
    sandbox = await startSandbox({
      transformConfig: (config) => config.replace('clientIdps:\n', `clientIdps:\n${extraIdps}`).replace('  upstreamTimeoutMs: 2000\n', '  upstreamTimeoutMs: 2000\n  jwksRefetchCooldownSeconds: 1\n'),
    });
    expect(sandbox.config).toContain('jwksRefetchCooldownSeconds: 1\n');
  });
  afterAll(async () => {
    await sandbox?.close();
    await Promise.all([...issuers.values()].map((issuer) => issuer.close()));
  });

  /** GET /credentials/keys: 403 no_identity_matched once the token verifies (these IdPs grant no keys). */
  const listKeys = async (idp: string) => {
    const token = await issuers.get(idp)!.githubToken();
    const response = await fetch(`${sandbox.broker.url}/credentials/keys`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Record<string, unknown> };
  };
  const counts = () => new Map([...issuers].map(([name, issuer]) => [name, { ...issuer.counts }]));

  it('/readyz turns ready once an IdP answers again, after one fetch per cooldown', async () => {
    sandbox.github.failJwks('always', 500);
    const down = await fetch(`${sandbox.broker.url}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'not_ready', idps: { 'github-actions': 'unavailable', [ROWS[0]!.idp]: 'ok' }, audit: 'ok' });
    sandbox.github.clearFaults();
    let probes = 0;
    let ready: Response;
    do {
      probes += 1;
      if (probes > 1) await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await fetch(`${sandbox.broker.url}/readyz`);
    } while (ready.status !== 200 && probes < 100);
    expect(await ready.json()).toMatchObject({ status: 'ready', idps: { 'github-actions': 'ok' }, audit: 'ok' });
    // One failed fetch, one good one after the cooldown; the probes in between asked nothing.
    expect(sandbox.github.counts.jwks).toBe(2);
  });

  it('verifies every IdP\'s tokens and mints while nothing fails (positive control), then starts a cold broker', async () => {
    for (const name of issuers.keys()) {
      const answer = await listKeys(name);
      expect({ name, status: answer.status, error: answer.body.error }).toEqual({ name, status: 403, error: 'no_identity_matched' });
    }
    expect((await mintAsMain(sandbox, ['AWS_DEPLOY'])).status).toBe(200);
    // The same config and issuers, every cache empty (the broker token's too), a long cooldown.
    await sandbox.restartBroker(sandbox.config.replace('jwksRefetchCooldownSeconds: 1\n', 'jwksRefetchCooldownSeconds: 600\n'));
  });

  it('a hanging broker-token endpoint is 504 broker_auth_timeout for the herd waiting on it, one request', async () => {
    // Its control is the mint above, on the previous broker; this one has no broker token yet.
    sandbox.brokerIdp.hangNext(1);
    const tokenRequests = sandbox.brokerIdp.counts.token;
    const stsCalls = sandbox.aws.calls;
    const herd = await Promise.all(Array.from({ length: 10 }, () => mintAsMain(sandbox, ['AWS_DEPLOY'])));
    for (const answer of herd) {
      expect(answer).toMatchObject({ status: 504, body: { error: 'broker_auth_timeout', code: 'ERR_BROKER_AUTH_TIMEOUT', message: 'the broker\'s own identity provider did not answer in time' } });
    }
    expect(sandbox.brokerIdp.counts.token - tokenRequests).toBe(1);
    expect(sandbox.aws.calls).toBe(stsCalls); // nothing reached the cloud
    // The endpoint answers again: a timeout is not remembered.
    expect((await mintAsMain(sandbox, ['AWS_DEPLOY'])).status).toBe(200);
    expect(sandbox.brokerIdp.counts.token - tokenRequests).toBe(2);
  });

  it('the faults below are set on the same issuers', () => {
    for (const row of ROWS) row.fault(issuers.get(row.idp)!);
    issuers.get(EMPTY_JWKS)!.setJwks({ keys: [] });
  });

  it.each(ROWS.map((row) => [row.idp, row] as const))('%s: 50 concurrent requests cost one fetch; the cooldown answers the rest without asking', async (_name, row) => {
    const issuer = issuers.get(row.idp)!;
    const before = { ...issuer.counts };
    const herd = await Promise.all(Array.from({ length: 50 }, () => listKeys(row.idp)));
    expect(new Set(herd.map((answer) => `${answer.status} ${String(answer.body.error)}`))).toEqual(new Set([`${row.status} ${row.error}`]));
    expect(issuer.counts[row.counted] - before[row.counted]).toBe(1);
    if (row.counted === 'discovery') expect(issuer.counts.jwks).toBe(before.jwks); // keys fetched from nowhere

    const later = await Promise.all(Array.from({ length: 20 }, () => listKeys(row.idp)));
    for (const answer of later) {
      expect(answer).toMatchObject({ status: 503, body: { error: 'idp_unavailable', message: 'the token issuer\'s signing keys cannot be fetched right now' } });
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(answer.retryAfter)).toBeLessThanOrEqual(600);
    }
    expect(issuer.counts).toEqual({ discovery: before.discovery + (row.counted === 'discovery' ? 1 : 0), jwks: before.jwks + (row.counted === 'jwks' ? 1 : 0) });
    // Nothing upstream reaches the caller; the operator's detail is in the audit event.
    expect(JSON.stringify([...herd, ...later])).not.toMatch(/injected|maintenance|evil|localhost/);
    expect(sandbox.broker.auditEvents().some((event) => typeof event.detail === 'string' && row.detail.test(event.detail))).toBe(true);
  });

  it('an empty key set is authoritative, not a failure: 401 key_not_found, the IdP still ready', async () => {
    const answer = await listKeys(EMPTY_JWKS);
    expect(answer).toMatchObject({ status: 401, body: { error: 'key_not_found' } });
  });

  it('a jwks_uri on another origin works when the config names it (discovery is not consulted)', async () => {
    expect(await listKeys(NAMED_ELSEWHERE)).toMatchObject({ status: 403, body: { error: 'no_identity_matched' } });
    expect(issuers.get(NAMED_ELSEWHERE)!.counts).toEqual({ discovery: 0, jwks: 2 }); // one fetch per broker, by the named URL
  });

  it('/readyz reports every failing IdP, and 30 probes cost no fetch', async () => {
    // Every IdP has been asked once by now (github-actions by the mints above).
    const before = counts();
    const githubBefore = { ...sandbox.github.counts };
    for (let i = 0; i < 30; i++) {
      const response = await fetch(`${sandbox.broker.url}/readyz`);
      expect(response.status).toBe(503);
      const body = (await response.json()) as { status: string; idps: Record<string, string> };
      expect(body.status).toBe('not_ready');
      expect(body.idps).toEqual({
        'github-actions': 'ok',
        [EMPTY_JWKS]: 'ok',
        [NAMED_ELSEWHERE]: 'ok',
        ...Object.fromEntries(ROWS.map((row) => [row.idp, 'unavailable'])),
      });
    }
    expect(counts()).toEqual(before);
    expect(sandbox.github.counts).toEqual(githubBefore);
  });
});
