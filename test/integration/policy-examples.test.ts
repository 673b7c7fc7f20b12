/**
 * The five worked policies of docs/policy.md, read from the page, each with a token it
 * allows (the control, first) and one it denies, through the real Broker with real signed
 * tokens; the clock and the client address are the request's own inputs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Broker, CedarPolicySet, createProviderRegistry, DEFAULT_SETTINGS, type AccessProviderFactory, type AuditEvent, type BrokerConfig } from '../../broker-core';
import { NodeHttpClient } from '../../broker-server/node-http-client';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';

const docs = readFileSync(join(__dirname, '../../docs/policy.md'), 'utf8');
const policies = [...docs.matchAll(/```cedar\n([\s\S]*?)```/g)].map((m) => m[1]!);

const TUESDAY_10 = Date.parse('2026-12-01T10:00:00Z');
const SATURDAY_10 = Date.parse('2026-12-05T10:00:00Z');
const RELEASE = 'acme/app/.github/workflows/release.yml@refs/heads/main';
const PROD_OK = { ref: 'refs/heads/main', job_workflow_ref: RELEASE, event_name: 'push' };

interface Case {
  readonly key: string;
  readonly claims: Record<string, string>;
  readonly at?: number;
  readonly from?: string;
  readonly duration?: number;
}

const examples: Array<{ id: string; allow: Case; deny: Case[] }> = [
  { id: 'no-pii-for-pull-requests', allow: { key: 'CUSTOMER_DATA', claims: { event_name: 'push' } }, deny: [{ key: 'CUSTOMER_DATA', claims: { event_name: 'pull_request' } }] },
  {
    id: 'prod-from-protected-branches-in-business-hours',
    allow: { key: 'PROD_DEPLOY', claims: PROD_OK },
    deny: [
      { key: 'PROD_DEPLOY', claims: PROD_OK, at: SATURDAY_10 },
      { key: 'PROD_DEPLOY', claims: { ...PROD_OK, ref: 'refs/heads/feature' } },
    ],
  },
  {
    id: 'fifteen-minutes-for-forks',
    allow: { key: 'BUILD_CACHE', claims: { event_name: 'pull_request_target' }, duration: 900 },
    deny: [{ key: 'BUILD_CACHE', claims: { event_name: 'pull_request_target' }, duration: 1800 }],
  },
  { id: 'prod-only-from-ci-network', allow: { key: 'PROD_DEPLOY', claims: PROD_OK }, deny: [{ key: 'PROD_DEPLOY', claims: PROD_OK, from: '203.0.113.5' }] },
  {
    id: 'prod-only-from-release-workflow',
    allow: { key: 'PROD_DEPLOY', claims: PROD_OK },
    deny: [{ key: 'PROD_DEPLOY', claims: { ...PROD_OK, job_workflow_ref: 'acme/app/.github/workflows/ci.yml@refs/heads/main' } }],
  },
];

describe('docs/policy.md worked policies', () => {
  let issuer: TokenIssuer;
  const http = new NodeHttpClient();
  const events: AuditEvent[] = [];
  let now = TUESDAY_10;
  let broker: Broker;

  const recording: AccessProviderFactory = {
    type: 'recording',
    providerSchema: {},
    keySchema: {},
    outputFields: ['Value'],
    secretFields: [],
    durationBounds: () => ({ min: 900, max: 3600, default: 900 }),
    usesBrokerToken: () => false,
    create: (provider) => ({ name: provider.name, type: 'recording', mint: async () => ({ fields: { Value: 'v' }, expiresAt: new Date(now + 900_000) }) }),
  };

  beforeAll(async () => {
    issuer = await startTokenIssuer();
    const key = (tags?: Record<string, string>) => ({ provider: 'rec', outputs: { V: 'Value' }, ...(tags ? { tags } : {}) });
    const config: BrokerConfig = {
      settings: { ...DEFAULT_SETTINGS, allowHttpLoopback: true, clockSkewSeconds: 300 },
      clientIdps: [{ name: 'github-actions', issuer: issuer.issuer, audience: issuer.audience, jwksUri: issuer.jwksUri }],
      accessProviders: [{ name: 'rec', type: 'recording' }],
      clientIdentities: [{ name: 'app', subjectPattern: 'repo:acme/app:**', idp: 'github-actions', keys: { CUSTOMER_DATA: key({ data: 'pii' }), BUILD_CACHE: key(), PROD_DEPLOY: key({ env: 'prod' }) } }],
      policy: { active: 'policies/' },
    };
    const active = new CedarPolicySet('active', policies.map((text, index) => ({ file: `docs/policy.md#${index + 1}`, text })));
    broker = new Broker(config, { providers: createProviderRegistry([recording]), http, clock: () => now, audit: (event) => void events.push(event), policies: { active } });
  });
  afterAll(async () => {
    http.close();
    await issuer.close();
  });

  it('the page holds five policies, each valid in strict mode', () => {
    expect(policies).toHaveLength(5);
    expect(examples.map((e) => e.id)).toEqual(policies.map((p) => /@id\("([^"]+)"\)/.exec(p)![1]));
  });

  async function mint(c: Case): Promise<{ status: 'allowed' | 'denied'; event: AuditEvent }> {
    now = c.at ?? TUESDAY_10;
    // The token is signed at the request's time, so that it is valid then.
    const token = await issuer.githubToken({ ...c.claims }, { iat: Math.floor(now / 1000), notBefore: Math.floor(now / 1000) - 5 });
    const requestId = `r${events.length}`;
    try {
      await broker.mint({ token, keys: [c.key], requestId, client: { address: c.from ?? '10.1.2.3' }, ...(c.duration ? { duration: c.duration } : {}) });
      return { status: 'allowed', event: events.find((e) => e.requestId === requestId)! };
    } catch (err) {
      const event = events.find((e) => e.requestId === requestId)!;
      if ((err as { code?: string }).code !== 'ERR_POLICY_DENIED') throw err;
      return { status: 'denied', event };
    }
  }

  it.each(examples)('$id: allows its control, denies each counter-example, naming the policy in the audit event only', async ({ id, allow, deny }) => {
    expect((await mint(allow)).status).toBe('allowed');
    for (const c of deny) {
      const { status, event } = await mint(c);
      expect(status).toBe('denied');
      expect(event.reason).toBe('policy_denied');
      expect(event.policy!.active!.decisions[c.key]!.policies).toContain(id);
    }
  });
});
