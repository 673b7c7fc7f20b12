import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/load-config';
import { ConfigError } from '../config/config-error';
import { providerDescriptors } from '../../providers/descriptors';
import { CedarPolicySet, PolicySetError } from './cedar-policy-set';
import { VOIDKEY_CEDAR_SCHEMA } from './cedar-schema';
import { claimTags, PolicyGuard } from './policy-guard';
import type { PolicyDecider, PolicyQuery } from './policy-decider';

const query = (tags: Record<string, string>, durationSeconds = 900): PolicyQuery => ({
  principal: { idp: 'gh', subject: 'repo:acme/app:pull_request', identities: ['app'], tags },
  resource: { key: 'K', provider: 'p', providerType: 'aws-sts', identity: 'app', tags: { data: 'pii' } },
  context: { durationSeconds, keys: ['K'], now: 1_796_544_000, utcHour: 10, utcWeekday: 2 },
});

describe('the shipped Cedar schema', () => {
  it('is config/voidkey.cedarschema, word for word', () => {
    expect(VOIDKEY_CEDAR_SCHEMA).toBe(readFileSync(join(__dirname, '../../config/voidkey.cedarschema'), 'utf8'));
  });
});

describe('CedarPolicySet', () => {
  it('evaluation errors deny: a forbid that errors never turns into an allow', () => {
    // Strict validation refuses an unguarded tag read, so the error comes at run time from an overflow.
    const overflow = new CedarPolicySet('t', [{ file: 'a.cedar', text: '@id("big")\nforbid (principal, action, resource) when { context.durationSeconds * 9223372036854775807 > 0 };\n' }]);
    const verdict = overflow.decide(query({}, 900));
    expect(verdict).toEqual({ decision: 'deny', policies: [], errors: ['big'] });
    // Control: the same policy that evaluates without error and does not match allows.
    const fine = new CedarPolicySet('t', [{ file: 'a.cedar', text: '@id("big")\nforbid (principal, action, resource) when { context.durationSeconds * 2 > 100000 };\n' }]);
    expect(fine.decide(query({}, 900))).toEqual({ decision: 'allow', policies: ['voidkey.grants'], errors: [] });
  });

  it.each([
    ['an unknown attribute', 'forbid (principal, action, resource) when { principal.team == "x" };', /2:45: attribute `team` on entity type `Voidkey::Caller` not found/],
    ['an unguarded tag', 'forbid (principal, action, resource) when { principal.getTag("ref") == "x" };', /2:45: unable to guarantee safety of access to tag/],
    ['a syntax error', 'forbid (principal, action, resource) when { 1 + };', /2:\d+: failed to parse policies/],
    ['a duplicate @id', '@id("a") forbid (principal, action, resource);\n@id("a") forbid (principal, action, resource);', /3:1: policy id 'a' is used twice/],
    ['a template', 'forbid (principal == ?principal, action, resource);', /\d+:\d+: static policy set includes a template/],
  ])('refuses %s with file:line:col (after a valid first line)', (_name, policy, message) => {
    expect(() => new CedarPolicySet('t', [{ file: 'a.cedar', text: 'forbid (principal, action, resource) when { false };\n' }])).not.toThrow();
    let error: unknown;
    try {
      new CedarPolicySet('t', [{ file: 'a.cedar', text: `forbid (principal, action, resource) when { false };\n${policy}\n` }]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicySetError);
    expect((error as PolicySetError).message).toMatch(new RegExp(`a\\.cedar:${message.source}`));
  });

  it('passes Cedar only the tags its policies read, and every tag when a policy computes a tag name', () => {
    const tags = { event_name: 'pull_request', ref: 'refs/heads/feature', actor: 'octocat' };
    const literal = new CedarPolicySet('t', [{ file: 'a.cedar', text: '@id("no-pii-for-prs")\nforbid (principal, action, resource) when { principal.hasTag("event_name") && principal.getTag("event_name") == "pull_request" && resource.hasTag("data") && resource.getTag("data") == "pii" };\n' }]);
    expect(literal.decide(query(tags))).toEqual({ decision: 'deny', policies: ['no-pii-for-prs'], errors: [] });
    expect(literal.decide(query({ ...tags, event_name: 'push' }))).toEqual({ decision: 'allow', policies: ['voidkey.grants'], errors: [] }); // control
    // A tag named by an expression (here a context value) cannot be known at load: every tag goes in.
    const computed = new CedarPolicySet('t', [{ file: 'b.cedar', text: '@id("by-name")\nforbid (principal, action, resource) when { principal.hasTag(principal.idp) && principal.getTag(principal.idp) == "octocat" };\n' }]);
    expect(computed.decide({ ...query(tags), principal: { ...query(tags).principal, idp: 'actor' } })).toEqual({ decision: 'deny', policies: ['by-name'], errors: [] });
    expect(computed.decide({ ...query(tags), principal: { ...query(tags).principal, idp: 'ref' } })).toEqual({ decision: 'allow', policies: ['voidkey.grants'], errors: [] }); // control
  });

  it('maps spans after multi-byte characters to the right column', () => {
    const text = '// “quotes” ünïcödé\nforbid (principal, action, resource) when { resource.owner == "x" };\n';
    expect(() => new CedarPolicySet('t', [{ file: 'u.cedar', text }])).toThrow(/u\.cedar:2:45:/);
  });
});

describe('claimTags', () => {
  it('keeps string claims only, and a claim named __proto__ as an own tag', () => {
    const claims = JSON.parse('{"sub":"s","n":1,"b":true,"l":["x"],"__proto__":"evil"}') as Record<string, unknown>;
    const tags = claimTags(claims);
    expect(Object.keys(tags).sort()).toEqual(['__proto__', 'sub']);
    expect(Object.getPrototypeOf(tags)).toBe(Object.prototype);
    const set = new CedarPolicySet('t', [{ file: 'p.cedar', text: '@id("proto")\nforbid (principal, action, resource) when { principal.hasTag("__proto__") && principal.getTag("__proto__") == "evil" };\n' }]);
    const q = query(tags);
    expect(set.decide(q).decision).toBe('deny');
    expect(set.decide(query(claimTags({ sub: 's', __proto__x: 'evil' }))).decision).toBe('allow');
  });
});

describe('a permit policy', () => {
  it('loads with a policy_permit_no_effect warning (a forbid-only set has none)', () => {
    const forbid = 'forbid (principal, action, resource) when { context.durationSeconds > 3600 };\n';
    expect(new CedarPolicySet('t', [{ file: 'f.cedar', text: forbid }]).warnings).toEqual([]);
    const set = new CedarPolicySet('t', [{ file: 'p.cedar', text: `${forbid}@id("extra")\npermit (principal, action, resource);\n` }]);
    expect(set.warnings).toEqual([expect.objectContaining({ file: 'p.cedar', line: 2, code: 'policy_permit_no_effect', message: expect.stringContaining("permit policy 'extra' has no effect") })]);
  });
});

describe('PolicyGuard', () => {
  const active = new CedarPolicySet('active', [{ file: 'a.cedar', text: '@id("no-pii-pr")\nforbid (principal, action, resource) when { resource.hasTag("data") && principal.hasTag("event_name") && principal.getTag("event_name") == "pull_request" };\n' }]);

  it('a candidate that throws never changes the active answer, and is counted as an error', async () => {
    const decisions: string[] = [];
    const broken: PolicyDecider = { version: 'v', decide: () => { throw new Error('wasm trap'); } };
    const guard = new PolicyGuard({ active, observe: broken, observer: { policyDecision: (set, d) => decisions.push(`${set}:${d}`) } });
    const q = query({ event_name: 'push' });
    const outcome = await guard.check(q.principal, q.context, [{ resource: q.resource, durationSeconds: 900 }]);
    expect(outcome.denied).toEqual([]);
    expect(outcome.audit.observe!.decisions!.K!.errors).toEqual(['voidkey.engine']);
    expect(decisions).toEqual(['active:allow', 'observe:error']);
    // Control: the active set still denies what it denies.
    const pr = query({ event_name: 'pull_request' });
    expect((await guard.check(pr.principal, pr.context, [{ resource: pr.resource, durationSeconds: 900 }])).denied).toEqual(['K']);
  });
});

describe('loadConfig with a policy section', () => {
  const config = readFileSync(join(__dirname, '../../config/examples/github-actions.yaml'), 'utf8');
  const files: Record<string, string> = {
    'active.cedar': 'forbid (principal, action, resource) when { context.durationSeconds > 3600 };\n',
    'bad.cedar': 'forbid (principal, action, resource) when { context.region == "x" };\n',
  };
  const load = (policy: string) =>
    loadConfig(config.replace('clientIdentities:', `policy:\n${policy}clientIdentities:`), {
      fileName: 'config.yaml',
      env: { BROKER_CLIENT_SECRET: 's' },
      providers: providerDescriptors(),
      readPolicies: (path) => {
        if (!(path in files)) throw new Error(`${path}: no such file or folder`);
        return [{ file: path, text: files[path]! }];
      },
    });

  it('loads a valid active set; an invalid one is a config error located in the policy file', () => {
    expect(load('  active: active.cedar\n').policies?.active?.version).toMatch(/^[0-9a-f]{64}$/);
    expect(() => load('  active: bad.cedar\n')).toThrow(ConfigError);
    expect(() => load('  active: bad.cedar\n')).toThrow(/bad\.cedar:1:45: attribute `region` in context for Voidkey::Action::"mint" not found/);
    expect(() => load('  active: missing.cedar\n')).toThrow(/config\.yaml:\d+:\d+: policy\.active: cannot be read: missing\.cedar: no such file/);
  });

  it('an observe set that fails to load is a warning: the active set still loads', () => {
    const loaded = load('  active: active.cedar\n  observe: bad.cedar\n');
    expect(loaded.policies?.active).toBeDefined();
    expect(loaded.policies?.observe).toBeUndefined();
    expect(loaded.policies?.observeProblem).toMatch(/did not load/);
    expect(loaded.warnings.find((w) => w.code === 'policy_observe_invalid')?.message).toMatch(/observe set not loaded: attribute `region`/);
  });

  it('refuses a plain-http PDP to a remote host', () => {
    expect(() => load('  pdp:\n    url: http://pdp.example.com/access/v1/evaluation\n')).toThrow(/policy\.pdp\.url: must use https/);
  });
});
