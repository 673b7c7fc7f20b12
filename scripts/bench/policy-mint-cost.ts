/**
 * What a `policy:` section adds to one mint on the broker's own path, without HTTP or STS
 * (the same with and without a policy): two Brokers of one build, the shared bench's
 * identity and keys, its guardrails (scripts/bench/bench-guardrails.cedar) on one of them,
 * real RS256 tokens (256 distinct, as the bench sends), the broker's AuditLog and logger
 * writing to /dev/null, its metrics, and a provider that answers at once. Alternating batches, CPU per
 * mint from this process; prints the medians and the difference.
 * `node dist/scripts/bench/policy-mint-cost.js [batches] [mintsPerBatch] [--observe]`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Broker, CedarPolicySet, createProviderRegistry, DEFAULT_SETTINGS, type AccessProviderFactory, type BrokerConfig } from '../../broker-core';
import { AuditLog } from '../../broker-server/audit-log';
import { createLogger } from '../../broker-server/logger';
import { BrokerMetrics } from '../../broker-server/metrics';
import { NodeHttpClient } from '../../broker-server/node-http-client';
import { startTokenIssuer } from '../../sandbox/token-issuer';
import { ownCpuMs } from './proc';

const root = join(__dirname, __dirname.includes(join('dist', 'scripts')) ? '../../..' : '../..');

const instant: AccessProviderFactory = {
  type: 'instant',
  providerSchema: {},
  keySchema: {},
  outputFields: ['AccessKeyId', 'SecretAccessKey', 'SessionToken'],
  secretFields: ['SecretAccessKey', 'SessionToken'],
  durationBounds: () => ({ min: 900, max: 3600, default: 900 }),
  usesBrokerToken: () => false,
  create: (provider) => ({
    name: provider.name,
    type: 'instant',
    mint: async () => ({ fields: { AccessKeyId: 'ASIA0000000000000001', SecretAccessKey: 's'.repeat(40), SessionToken: 't'.repeat(300) }, expiresAt: new Date(Date.now() + 900_000) }),
  }),
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function policyMintCost(batches: number, perBatch: number, observe: boolean): Promise<{ withoutUs: number; withUs: number }> {
  const issuer = await startTokenIssuer({ audience: 'voidkey-broker' });
  const http = new NodeHttpClient();
  const logger = createLogger({ level: 'info', destination: pino.destination({ dest: '/dev/null', sync: true }) });
  const audit = new AuditLog({ stdout: true, failClosed: false, logger });
  try {
    const outputs = { AWS_ACCESS_KEY_ID: 'AccessKeyId', AWS_SECRET_ACCESS_KEY: 'SecretAccessKey', AWS_SESSION_TOKEN: 'SessionToken' };
    const keys = Object.fromEntries([1, 2, 3, 4, 5].map((i) => [`K${i}`, { provider: 'aws-bench', duration: 900, outputs }]));
    const config: BrokerConfig = {
      settings: { ...DEFAULT_SETTINGS, allowHttpLoopback: true },
      clientIdps: [{ name: 'bench-ci', issuer: issuer.issuer, audience: issuer.audience, jwksUri: issuer.jwksUri }],
      accessProviders: [{ name: 'aws-bench', type: 'instant' }],
      clientIdentities: [{ name: 'clientIdentities[0]', subject: 'bench-client', idp: 'bench-ci', keys }],
    };
    const text = readFileSync(join(root, 'scripts/bench/bench-guardrails.cedar'), 'utf8')
      // The bench's issuer is http://127.0.0.1:PORT/client; this one's path differs.
      .replace('like "http://127.0.0.1:*/client"', `== "${issuer.issuer}"`);
    const active = new CedarPolicySet('active', [{ file: 'bench-guardrails.cedar', text }]);
    const observeSet = observe ? new CedarPolicySet('observe', [{ file: 'bench-guardrails.cedar', text }]) : undefined;
    const metrics = new BrokerMetrics();
    const deps = { providers: createProviderRegistry([instant]), http, clock: () => Date.now(), audit: audit.write, observer: metrics.observer };
    const brokers = [
      new Broker(config, deps),
      new Broker({ ...config, policy: { active: 'bench-guardrails.cedar', ...(observe ? { observe: 'bench-guardrails.cedar' } : {}) } }, { ...deps, policies: { active, ...(observeSet ? { observe: observeSet } : {}) } }),
    ];
    const tokens = await Promise.all(Array.from({ length: 256 }, () => issuer.sign({ sub: 'bench-client', jti: randomUUID() }, { expiresIn: 3600 })));
    let n = 0;
    const mint = (broker: Broker) => broker.mint({ token: tokens[n++ % tokens.length]!, keys: ['K1'], requestId: `r${n}`, client: { address: '127.0.0.1' } });
    const first = await mint(brokers[1]!);
    if (!first.K1) throw new Error('the policy broker did not mint K1');
    const cpu: number[][] = [[], []];
    const batch = async (index: number) => {
      const before = ownCpuMs();
      for (let i = 0; i < perBatch; i++) await mint(brokers[index]!);
      return ((ownCpuMs() - before) * 1000) / perBatch;
    };
    for (let i = 0; i < 2; i++) for (const index of [0, 1]) await batch(index); // warm-up
    for (let b = 0; b < batches; b++) for (const index of b % 2 === 0 ? [0, 1] : [1, 0]) cpu[index]!.push(await batch(index));
    const stats = (active as { cacheStats?: { misses: number } }).cacheStats; // absent in a build without the cache
    if (stats && stats.misses > batches * 4 + 10) throw new Error(`unexpected cache misses: ${JSON.stringify(stats)}`);
    return { withoutUs: median(cpu[0]!), withUs: median(cpu[1]!) };
  } finally {
    audit.close();
    http.close();
    await issuer.close();
  }
}

if (require.main === module) {
  const [batches, perBatch] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const observe = process.argv.includes('--observe');
  void policyMintCost(Number(batches ?? 20), Number(perBatch ?? 2000), observe).then(({ withoutUs, withUs }) => {
    console.log(`no policy ${withoutUs.toFixed(1)} µs CPU per mint; policy (${observe ? 'active + observe' : 'active'}) ${withUs.toFixed(1)} µs; added ${(withUs - withoutUs).toFixed(1)} µs (×${(withUs / withoutUs).toFixed(3)} of this path)`);
  });
}
