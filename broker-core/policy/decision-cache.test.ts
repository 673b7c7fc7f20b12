/**
 * The memoised policy decision: a cache hit answers exactly as a fresh evaluation (the
 * decision, the determining policies, the errors), keyed by only what the set reads; the
 * cache is bounded, forgets the least recently used first, and a reload starts empty.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { loadConfig } from '../config/load-config';
import { providerDescriptors } from '../../providers/descriptors';
import { CedarPolicySet, GRANTS_POLICY_ID, MAX_DECISION_KEY_LENGTH, type PolicySource } from './cedar-policy-set';
import { DecisionCache } from './decision-cache';
import type { PolicyQuery, PolicyVerdict } from './policy-decider';
import { policyReads } from './policy-reads';

const docs = readFileSync(join(__dirname, '../../docs/policy.md'), 'utf8');
const DOC_POLICIES = [...docs.matchAll(/```cedar\n([\s\S]*?)```/g)].map((m) => m[1]!).join('\n');

const READS_NOW = '@id("not-after-2027")\nforbid (principal, action, resource) when { context.now >= 1798761600 };\n';
const OVERFLOWS = '@id("overflow")\nforbid (principal, action, resource) when { principal.hasTag("event_name") && principal.getTag("event_name") == "schedule" && context.durationSeconds * 9223372036854775807 > 0 };\n';
const READS_KEYS = '@id("not-with-prod")\nforbid (principal, action, resource) when { context.keys.contains("PROD_DEPLOY") && resource == Voidkey::Key::"CUSTOMER_DATA" };\n';
const COMPUTED_TAG = '@id("by-idp")\nforbid (principal, action, resource) when { principal.hasTag(principal.idp) && principal.getTag(principal.idp) == "octocat" };\n';
// `context` used as a value, not read attribute by attribute: the whole context is handed over and keyed.
const WHOLE_CONTEXT = '@id("whole")\nforbid (principal, action, resource) when { (if principal.hasTag("ref") then context else context).durationSeconds > 900 };\n';

const SETS: Record<string, string> = {
  'the five worked policies': DOC_POLICIES,
  'a policy that reads now': READS_NOW,
  'a policy that errors on some requests': OVERFLOWS,
  'a policy that reads the request keys': READS_KEYS,
  'a policy that names a tag by an expression': COMPUTED_TAG,
  'a policy that reads the whole context': WHOLE_CONTEXT,
};

const TUESDAY_10 = 1_796_544_000; // 2026-12-06T10:00Z is a Sunday; utcHour/utcWeekday are inputs of their own
const RELEASE = 'acme/app/.github/workflows/release.yml@refs/heads/main';
const baseTags = { ref: 'refs/heads/main', event_name: 'push', job_workflow_ref: RELEASE, repository: 'acme/app', jti: 'j-1', sha: 'a'.repeat(40) };
const keyTags: Record<string, Record<string, string>> = { PROD_DEPLOY: { env: 'prod' }, CUSTOMER_DATA: { data: 'pii' }, BUILD_CACHE: {} };

function q(over: { tags?: Record<string, string>; key?: string; keys?: string[]; now?: number; hour?: number; weekday?: number; ip?: string | null; duration?: number; subject?: string; idp?: string } = {}): PolicyQuery {
  const key = over.key ?? 'PROD_DEPLOY';
  return {
    principal: { idp: over.idp ?? 'github-actions', subject: over.subject ?? 'repo:acme/app:ref:refs/heads/main', identities: ['app'], tags: over.tags ?? baseTags },
    resource: { key, provider: 'aws-prod', providerType: 'aws-sts', identity: 'app', tags: keyTags[key] ?? {} },
    context: {
      durationSeconds: over.duration ?? 900,
      keys: over.keys ?? [key],
      now: over.now ?? TUESDAY_10,
      utcHour: over.hour ?? 10,
      utcWeekday: over.weekday ?? 2,
      ...(over.ip === null ? {} : { sourceIp: over.ip ?? '10.1.2.3' }),
    },
  };
}

/** Requests that differ in one input each: read and unread tags, time, address, duration, keys, errors. */
const CORPUS: PolicyQuery[] = [
  q(),
  q({ tags: { ...baseTags, jti: 'j-2' } }), // differs only in an unread tag
  q({ tags: { ...baseTags, sha: 'b'.repeat(40), jti: 'j-3' } }),
  q({ tags: { ...baseTags, ref: 'refs/heads/feature' } }),
  q({ tags: { ...baseTags, job_workflow_ref: 'acme/app/.github/workflows/ci.yml@refs/heads/main' } }),
  q({ tags: { ...baseTags, event_name: 'pull_request' }, key: 'CUSTOMER_DATA' }),
  q({ tags: { ...baseTags, event_name: 'push' }, key: 'CUSTOMER_DATA' }),
  q({ tags: { ...baseTags, event_name: 'pull_request_target' }, key: 'BUILD_CACHE', duration: 1800 }),
  q({ tags: { ...baseTags, event_name: 'pull_request_target' }, key: 'BUILD_CACHE', duration: 900 }),
  q({ tags: { ...baseTags, event_name: 'schedule' }, key: 'BUILD_CACHE' }), // errors in OVERFLOWS
  q({ tags: { ...baseTags, event_name: 'schedule', jti: 'j-4' }, key: 'BUILD_CACHE' }),
  q({ key: 'BUILD_CACHE', duration: 1800, keys: ['BUILD_CACHE'], now: TUESDAY_10, hour: 10, weekday: 2, ip: null }),
  q({ key: 'BUILD_CACHE', duration: 1800, keys: ['BUILD_CACHE'], now: TUESDAY_10 + 1, hour: 10, weekday: 2, ip: null }),
  q({ now: TUESDAY_10 + 1 }), // differs only in now
  q({ now: 1_798_761_600 }), // now reaches READS_NOW's limit
  q({ now: 1_798_761_601 }),
  q({ weekday: 6 }),
  q({ hour: 19 }),
  q({ ip: '203.0.113.5' }),
  q({ ip: null }),
  q({ ip: 'fe80::1' }),
  q({ key: 'CUSTOMER_DATA', keys: ['CUSTOMER_DATA', 'PROD_DEPLOY'] }),
  q({ key: 'CUSTOMER_DATA', keys: ['CUSTOMER_DATA'] }),
  q({ subject: 'repo:acme/other:ref:refs/heads/main' }),
  q({ idp: 'actor', tags: { ...baseTags, actor: 'octocat' } }), // COMPUTED_TAG denies
  q({ idp: 'actor', tags: { ...baseTags, actor: 'hubot' } }),
  q({ idp: 'ref' }),
];

/**
 * The reference: Cedar handed every tag and the whole context, no projection, no cache
 * (the schema is preparsed under its own name by the set's first use).
 */
function reference(text: string, query: PolicyQuery): PolicyVerdict {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type !== 'success') throw new Error('unparsable');
  const byId: Record<string, string> = { [GRANTS_POLICY_ID]: 'permit (principal, action, resource);' };
  for (const policy of parts.policies) {
    const json = cedar.policyToJson(policy);
    if (json.type !== 'success') throw new Error('unparsable');
    byId[json.json.annotations!.id!] = policy;
  }
  const id = `reference:${text.length}:${Object.keys(byId).join(',')}`;
  if (cedar.preparsePolicySet(id, { staticPolicies: byId }).type !== 'success') throw new Error('unparsable');
  const c = query.context;
  const answer = cedar.statefulIsAuthorized({
    principal: { type: 'Voidkey::Caller', id: query.principal.subject },
    action: { type: 'Voidkey::Action', id: 'mint' },
    resource: { type: 'Voidkey::Key', id: query.resource.key },
    context: { durationSeconds: c.durationSeconds, keys: [...c.keys], now: c.now, utcHour: c.utcHour, utcWeekday: c.utcWeekday, ...(c.sourceIp === undefined ? {} : { sourceIp: { __extn: { fn: 'ip', arg: c.sourceIp } } }) },
    preparsedSchemaName: 'voidkey',
    validateRequest: true,
    preparsedPolicySetId: id,
    entities: [
      { uid: { type: 'Voidkey::Caller', id: query.principal.subject }, attrs: { idp: query.principal.idp, subject: query.principal.subject, identities: [...query.principal.identities] }, parents: [], tags: { ...query.principal.tags } },
      { uid: { type: 'Voidkey::Key', id: query.resource.key }, attrs: { provider: query.resource.provider, providerType: query.resource.providerType, identity: query.resource.identity }, parents: [], tags: { ...query.resource.tags } },
    ],
  });
  if (answer.type !== 'success') return { decision: 'deny', policies: [], errors: ['voidkey.request'] };
  const errors = answer.response.diagnostics.errors.map((e) => e.policyId);
  if (errors.length > 0) return { decision: 'deny', policies: answer.response.diagnostics.reason.filter((p) => p !== GRANTS_POLICY_ID), errors };
  return { decision: answer.response.decision, policies: answer.response.diagnostics.reason, errors };
}

const sources = (text: string): PolicySource[] => [{ file: 'set.cedar', text }];

describe('memoised policy decisions', () => {
  it.each(Object.entries(SETS))('%s: cache on, cache off and every input handed to Cedar decide the corpus identically', (_name, text) => {
    const cached = new CedarPolicySet('active', sources(text));
    const fresh = new CedarPolicySet('active', sources(text), { cacheSize: 0 });
    const expected = CORPUS.map((query) => reference(text, query));
    // The corpus is no trivial one for this set: it allows some requests and denies others.
    expect(expected.some((v) => v.decision === 'allow')).toBe(true);
    expect(expected.some((v) => v.decision === 'deny')).toBe(true);
    for (let pass = 0; pass < 2; pass++) {
      expect(CORPUS.map((query) => cached.decide(query))).toEqual(expected);
      expect(CORPUS.map((query) => fresh.decide(query))).toEqual(expected);
      expect(CORPUS.map((query) => cached.evaluate(query))).toEqual(expected);
    }
    expect(fresh.cacheStats).toBeUndefined();
    expect(fresh.evaluations).toBe(CORPUS.length * 2);
    // The second pass is all hits: no call into the engine.
    const stats = cached.cacheStats!;
    expect(stats.hits).toBeGreaterThanOrEqual(CORPUS.length);
    expect(stats.misses).toBe(stats.size);
    expect(cached.evaluations).toBe(stats.misses + CORPUS.length * 2);
  });

  it('the errors of an erroring policy are the same from the cache', () => {
    const set = new CedarPolicySet('active', sources(OVERFLOWS));
    const schedule = CORPUS[9]!;
    const control = set.decide(CORPUS[0]!);
    expect(control).toEqual({ decision: 'allow', policies: [GRANTS_POLICY_ID], errors: [] });
    const first = set.decide(schedule);
    expect(first).toEqual({ decision: 'deny', policies: [], errors: ['overflow'] });
    const evaluations = set.evaluations;
    expect(set.decide(CORPUS[10]!)).toEqual(first); // another token (jti), same read inputs: a hit
    expect(set.evaluations).toBe(evaluations);
  });

  it('keys only what the set reads: an unread tag or `now` is a hit, a read one a new decision', () => {
    const docsSet = new CedarPolicySet('active', sources(DOC_POLICIES));
    expect(docsSet.decide(q())).toEqual({ decision: 'allow', policies: [GRANTS_POLICY_ID], errors: [] });
    expect(docsSet.evaluations).toBe(1);
    expect(docsSet.decide(q({ tags: { ...baseTags, jti: 'other', sha: 'c'.repeat(40), run_id: '42' } }))).toEqual({ decision: 'allow', policies: [GRANTS_POLICY_ID], errors: [] });
    expect(docsSet.decide(q({ now: TUESDAY_10 + 3599 }))).toEqual({ decision: 'allow', policies: [GRANTS_POLICY_ID], errors: [] });
    expect(docsSet.evaluations).toBe(1); // no policy reads jti, sha, run_id or now
    expect(docsSet.decide(q({ tags: { ...baseTags, ref: 'refs/heads/feature' } })).decision).toBe('deny'); // ref is read
    expect(docsSet.decide(q({ hour: 19 })).decision).toBe('deny'); // utcHour is read
    expect(docsSet.evaluations).toBe(3);

    const wholeContext = new CedarPolicySet('active', sources(WHOLE_CONTEXT));
    expect(wholeContext.decide(q()).decision).toBe('allow');
    expect(wholeContext.decide(q({ now: TUESDAY_10 + 1 })).decision).toBe('allow');
    expect(wholeContext.evaluations).toBe(2); // the whole context is keyed, `now` with it

    const nowSet = new CedarPolicySet('active', sources(READS_NOW));
    expect(nowSet.decide(q({ now: 1_798_761_599 })).decision).toBe('allow');
    expect(nowSet.decide(q({ now: 1_798_761_600 }))).toEqual({ decision: 'deny', policies: ['not-after-2027'], errors: [] });
    expect(nowSet.evaluations).toBe(2);
  });

  it('an address Cedar refuses denies only a set that reads sourceIp (fail closed), and is never in the key otherwise', () => {
    const readsIp = new CedarPolicySet('active', sources(DOC_POLICIES));
    const ignoresIp = new CedarPolicySet('active', sources(READS_NOW));
    // Controls: a valid address is allowed by both.
    expect(readsIp.decide(q()).decision).toBe('allow');
    expect(ignoresIp.decide(q()).decision).toBe('allow');
    // '::::' is no address Cedar's ip() accepts: a set that reads sourceIp fails closed; one that does not never sees it.
    expect(readsIp.decide(q({ ip: '::::' }))).toEqual({ decision: 'deny', policies: [], errors: ['voidkey.request'] });
    expect(ignoresIp.decide(q({ ip: '::::' }))).toEqual({ decision: 'allow', policies: [GRANTS_POLICY_ID], errors: [] });
    expect(ignoresIp.evaluations).toBe(1);
  });

  it('hands out frozen verdicts: an audit event cannot change what the next request is answered', () => {
    const set = new CedarPolicySet('active', sources(DOC_POLICIES));
    const verdict = set.decide(q({ hour: 19 }));
    expect(Object.isFrozen(verdict) && Object.isFrozen(verdict.policies) && Object.isFrozen(verdict.errors)).toBe(true);
    expect(() => (verdict.policies as string[]).push('x')).toThrow(TypeError);
    expect(set.decide(q({ hour: 19 }))).toEqual({ decision: 'deny', policies: ['prod-from-protected-branches-in-business-hours'], errors: [] });
  });
});

describe('the decision cache is bounded', () => {
  it('holds at most its capacity, forgetting the least recently used first', () => {
    const set = new CedarPolicySet('active', sources(READS_NOW), { cacheSize: 2 });
    const at = (now: number) => q({ now });
    set.decide(at(1));
    set.decide(at(2));
    expect(set.cacheStats).toMatchObject({ size: 2, capacity: 2, misses: 2, hits: 0 });
    set.decide(at(1)); // a hit: now 2 is the least recently used
    set.decide(at(3)); // evicts 2
    expect(set.cacheStats).toMatchObject({ size: 2, misses: 3, hits: 1 });
    set.decide(at(1));
    expect(set.cacheStats).toMatchObject({ misses: 3, hits: 2 }); // 1 stayed
    set.decide(at(2));
    expect(set.cacheStats).toMatchObject({ size: 2, misses: 4, hits: 2 }); // 2 was forgotten
    for (let now = 10; now < 200; now++) set.decide(at(now));
    expect(set.cacheStats!.size).toBe(2);
    expect(set.evaluations).toBe(4 + 190);
  });

  it('keeps no decision whose key is over 1024 characters (long claim values a policy reads): those are evaluated every time', () => {
    const set = new CedarPolicySet('active', sources(DOC_POLICIES));
    const long = q({ tags: { ...baseTags, job_workflow_ref: `${'acme/app/.github/workflows/'.padEnd(MAX_DECISION_KEY_LENGTH, 'x')}release.yml@refs/heads/main` } });
    const short = q();
    expect(set.decide(short).decision).toBe('allow'); // control: kept
    expect(set.decide(short).decision).toBe('allow');
    expect(set.evaluations).toBe(1);
    expect(set.decide(long)).toEqual(reference(DOC_POLICIES, long));
    expect(set.decide(long)).toEqual(reference(DOC_POLICIES, long));
    expect(set.evaluations).toBe(3);
    expect(set.cacheStats!.size).toBe(1);
  });

  it('defaults to 4096 entries; 0 turns it off; a negative or fractional size is refused', () => {
    expect(new CedarPolicySet('active', sources(READS_NOW)).cacheStats!.capacity).toBe(4096);
    expect(new CedarPolicySet('active', sources(READS_NOW), { cacheSize: 0 }).cacheStats).toBeUndefined();
    expect(() => new DecisionCache(-1)).toThrow(RangeError);
    expect(() => new DecisionCache(1.5)).toThrow(RangeError);
    expect(new DecisionCache(1).capacity).toBe(1);
  });

  it('a reload starts empty: the new set decides by its own policies, not the old set\'s answers', () => {
    const config = readFileSync(join(__dirname, '../../config/examples/github-actions.yaml'), 'utf8');
    const files: Record<string, string> = { 'active.cedar': DOC_POLICIES };
    const load = () =>
      loadConfig(config.replace('clientIdentities:', 'policy:\n  active: active.cedar\nclientIdentities:'), {
        fileName: 'config.yaml',
        env: { BROKER_CLIENT_SECRET: 's' },
        providers: providerDescriptors(),
        readPolicies: (path) => [{ file: path, text: files[path]! }],
      }).policies!.active!;
    const before = load();
    const feature = q({ tags: { ...baseTags, ref: 'refs/heads/feature' } });
    expect(before.decide(feature).decision).toBe('deny');
    expect(before.decide(feature).decision).toBe('deny');
    expect(before.cacheStats).toMatchObject({ size: 1, hits: 1 });
    files['active.cedar'] = READS_NOW;
    const after = load();
    expect(after.version).not.toBe(before.version);
    expect(after.cacheStats).toMatchObject({ size: 0, hits: 0, misses: 0 });
    expect(after.decide(feature)).toEqual({ decision: 'allow', policies: [GRANTS_POLICY_ID], errors: [] });
  });
});

describe('policyReads (what a set can read, from its policies\' JSON form)', () => {
  const reads = (text: string) => {
    const parts = cedar.policySetTextToParts(text);
    if (parts.type !== 'success') throw new Error('unparsable');
    return policyReads(parts.policies.map((p) => { const json = cedar.policyToJson(p); if (json.type !== 'success') throw new Error('unparsable'); return json.json; }));
  };
  const sorted = (set: ReadonlySet<string> | undefined) => (set === undefined ? 'all' : [...set].sort());

  it.each([
    ['nothing', 'permit (principal, action, resource);', [], []],
    ['literal tags on either entity', 'forbid (principal, action, resource) when { principal.hasTag("a") && principal.getTag("a") == "x" && resource.hasTag("b") };', ['a', 'b'], []],
    ['context by dot, by index and by has', 'forbid (principal, action, resource) when { context.durationSeconds > 1 && context["now"] > 2 && context has sourceIp };', [], ['durationSeconds', 'now', 'sourceIp']],
    ['the head of a `has` path', 'forbid (principal, action, resource) when { context has keys && context.keys.contains("K") && (context has utcHour.x) };', [], ['keys', 'utcHour']],
    ['a tag named by an expression', 'forbid (principal, action, resource) when { principal.hasTag(principal.idp) };', 'all', []],
    ['a tag named by a string expression', 'forbid (principal, action, resource) when { principal.hasTag(if true then "a" else "b") };', 'all', []],
    ['the whole context', 'forbid (principal, action, resource) when { context == {} };', [], 'all'],
    ['the context inside a record literal', 'forbid (principal, action, resource) when { {"Var": context}.Var.now > 1 };', [], 'all'],
    ['a string that looks like a read', 'forbid (principal, action, resource) when { principal.subject == "context.now getTag(\\"x\\")" };', [], []],
  ])('%s', (_name, text, tags, context) => {
    const found = reads(text);
    expect(sorted(found.tags)).toEqual(tags);
    expect(sorted(found.context)).toEqual(context);
  });

  it('the five worked policies read five tags and four context attributes (not `now`, not `keys`)', () => {
    const found = reads(DOC_POLICIES);
    expect(sorted(found.tags)).toEqual(['data', 'env', 'event_name', 'job_workflow_ref', 'ref']);
    expect(sorted(found.context)).toEqual(['durationSeconds', 'sourceIp', 'utcHour', 'utcWeekday']);
  });

  it('reads everything from a policy shape it does not know', () => {
    expect(policyReads([{ effect: 'forbid' }])).toEqual({ tags: undefined, context: undefined });
    expect(policyReads([{ conditions: [{ kind: 'when', body: { '.': { left: { Var: 'context' }, attr: 7 } } }] }]).context).toBeUndefined();
    expect(policyReads([{ conditions: [{ kind: 'when', body: { getTag: { left: { Var: 'principal' }, right: { Value: 'a', extra: 1 } } } }] }]).tags).toBeUndefined();
  });
});
