/**
 * CPU per policy decision, as the mint path pays it: one PolicyGuard.check of one key
 * with the active set alone, and with an observe set beside it (the five worked
 * policies of docs/policy.md), memoised (the same caller again, as in a warm CI fleet or
 * the shared bench's S1) and evaluated afresh (decision cache off: every request new).
 * `node dist/scripts/bench/policy-cost.js [iterations]`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CedarPolicySet, PolicyGuard, type PolicyItem, type PolicyPrincipal } from '../../broker-core';
import { ownCpuMs } from './proc';

const root = join(__dirname, __dirname.includes(join('dist', 'scripts')) ? '../../..' : '../..');
const docs = readFileSync(join(root, 'docs/policy.md'), 'utf8');
const sources = [...docs.matchAll(/```cedar\n([\s\S]*?)```/g)].map((m, i) => ({ file: `policy.md#${i + 1}`, text: m[1]! }));

const principal: PolicyPrincipal = {
  idp: 'github-actions',
  subject: 'repo:acme/app:ref:refs/heads/main',
  identities: ['app'],
  tags: { ref: 'refs/heads/main', event_name: 'push', repository: 'acme/app', repository_id: '123456', job_workflow_ref: 'acme/app/.github/workflows/release.yml@refs/heads/main', actor: 'octocat', sha: 'a'.repeat(40) },
};
const items: PolicyItem[] = [{ resource: { key: 'PROD_DEPLOY', provider: 'aws-prod', providerType: 'aws-sts', identity: 'app', tags: { env: 'prod' } }, durationSeconds: 900 }];
const context = { keys: ['PROD_DEPLOY'], sourceIp: '10.1.2.3', now: 1_796_544_000, utcHour: 10, utcWeekday: 2 };

export async function policyCost(iterations: number): Promise<Array<{ what: string; cpuMicrosPerDecision: number }>> {
  const active = new CedarPolicySet('bench-active', sources);
  const observe = new CedarPolicySet('bench-observe', sources.slice(0, 3));
  const freshActive = new CedarPolicySet('bench-active', sources, { cacheSize: 0 });
  const freshObserve = new CedarPolicySet('bench-observe', sources.slice(0, 3), { cacheSize: 0 });
  const results = [];
  for (const [what, guard] of [
    ['active', new PolicyGuard({ active })],
    ['active + observe', new PolicyGuard({ active, observe })],
    ['active, uncached', new PolicyGuard({ active: freshActive })],
    ['active + observe, uncached', new PolicyGuard({ active: freshActive, observe: freshObserve })],
  ] as const) {
    // A broken step that denies everything can be fast: the bench's caller must be allowed.
    const first = await guard.check(principal, context, items);
    if (first.denied.length > 0 || first.audit.active?.decisions.PROD_DEPLOY?.decision !== 'allow') throw new Error(`${what}: the bench's request was not allowed: ${JSON.stringify(first.audit)}`);
    for (let i = 0; i < Math.min(500, iterations); i++) await guard.check(principal, context, items); // warm up (wasm tiers up)
    const before = ownCpuMs();
    for (let i = 0; i < iterations; i++) await guard.check(principal, context, items);
    results.push({ what, cpuMicrosPerDecision: Math.round(((ownCpuMs() - before) * 10_000) / iterations) / 10 });
  }
  return results;
}

if (require.main === module) {
  void policyCost(Number(process.argv[2] ?? 5000)).then((results) => {
    for (const r of results) console.log(`${r.what.padEnd(28)} ${r.cpuMicrosPerDecision} µs CPU per key decision`);
  });
}
