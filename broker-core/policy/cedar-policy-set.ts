import { createHash } from 'node:crypto';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';
import { VOIDKEY_CEDAR_SCHEMA } from './cedar-schema';
import { DecisionCache } from './decision-cache';
import type { PolicyContext, PolicyDecider, PolicyQuery, PolicyVerdict } from './policy-decider';
import { policyReads } from './policy-reads';

/** One policy file's text, named as problems should name it. */
export interface PolicySource {
  readonly file: string;
  readonly text: string;
}

/** A problem in a policy file, located like a config problem. */
export interface PolicyIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly code?: string;
}

export class PolicySetError extends Error {
  constructor(readonly issues: readonly PolicyIssue[]) {
    super(issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.message}`).join('\n'));
    this.name = 'PolicySetError';
  }
}

export interface PolicyInfo {
  readonly id: string;
  readonly effect: 'permit' | 'forbid';
  readonly file: string;
  readonly line: number;
  /** The key names the policy's scope or conditions name literally (`Voidkey::Key::"K"`). */
  readonly keys: readonly string[];
  /** True when the policy names no key: it may affect every key. */
  readonly anyKey: boolean;
}

/** The YAML grants act as the permit: a set of forbid rules allows everything else the YAML grants. */
export const GRANTS_POLICY_ID = 'voidkey.grants';
const GRANTS_POLICY = 'permit (principal, action, resource);';
const SCHEMA_ID = 'voidkey';
/** Decisions kept per loaded set: a few hundred bytes each. */
export const DEFAULT_DECISION_CACHE_SIZE = 4096;
/**
 * A decision whose key is longer (long claim values a policy reads) is evaluated, not kept:
 * the cache stays under ~8 MiB whatever the tokens hold.
 */
export const MAX_DECISION_KEY_LENGTH = 1024;

export interface CedarPolicySetOptions {
  /** How many decisions to memoise (least recently used forgotten first); 0 evaluates every one. */
  readonly cacheSize?: number;
}

let wasm: typeof CedarWasm | undefined;
let schemaReady = false;

/**
 * cedar-wasm compiles its module when first required (tens of milliseconds): only a
 * config with a `policy:` section, or the CLI's policy commands, pay for it.
 */
function cedar(): typeof CedarWasm {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  wasm ??= require('@cedar-policy/cedar-wasm/nodejs') as typeof CedarWasm;
  if (!schemaReady) {
    const parsed = wasm.preparseSchema(SCHEMA_ID, VOIDKEY_CEDAR_SCHEMA);
    if (parsed.type !== 'success') throw new Error(`the shipped Cedar schema does not parse: ${parsed.errors.map((e) => e.message).join('; ')}`);
    schemaReady = true;
  }
  return wasm;
}

/** SHA-256 (hex) of a policy set's text: its files' texts joined in the order given. */
export function policySetVersion(sources: readonly PolicySource[]): string {
  const hash = createHash('sha256');
  for (const source of sources) hash.update(source.text);
  return hash.digest('hex');
}

/**
 * A Cedar policy set parsed, validated (strict mode, against the shipped schema) and
 * preparsed once per load; each decision then evaluates with the preparsed ids.
 */
export class CedarPolicySet implements PolicyDecider {
  readonly version: string;
  readonly policies: readonly PolicyInfo[];
  /** Validator warnings and authored permits (which add nothing), located in their files. */
  readonly warnings: readonly PolicyIssue[];
  private readonly setId: string;
  /**
   * The tag names and context attributes the policies read (undefined: all of them). Cedar
   * is handed only these: every string claim of a CI token is a tag, and each would cross
   * into the wasm module on every call; and they are the memo key, so a claim like `jti`
   * or a `now` no policy reads does not make every request a new decision.
   */
  private readonly readTags: ReadonlySet<string> | undefined;
  private readonly readContext: ReadonlySet<string> | undefined;
  /**
   * Cedar is a pure function of (this set, principal, resource, action, context): the same
   * inputs give the same decision, determining policies and errors. Reset by construction
   * on reload, since a reload builds a new set.
   */
  private readonly cache: DecisionCache<PolicyVerdict> | undefined;
  /** Calls into the wasm engine (misses of the cache, and every `evaluate`). */
  evaluations = 0;

  constructor(label: string, readonly sources: readonly PolicySource[], options: CedarPolicySetOptions = {}) {
    const engine = cedar();
    this.version = policySetVersion(sources);
    const issues: PolicyIssue[] = [];
    const warnings: PolicyIssue[] = [];
    const policies: PolicyInfo[] = [];
    const byId: Record<string, string> = {};
    const trees: unknown[] = [];
    for (const source of sources) {
      const located = locator(source);
      const validation = engine.validate({ schema: VOIDKEY_CEDAR_SCHEMA, policies: { staticPolicies: source.text }, validationSettings: { mode: 'strict' } });
      if (validation.type === 'failure') {
        issues.push(...validation.errors.map((error) => located(error.sourceLocations?.[0]?.start, error.message, error.help)));
        continue;
      }
      // A "success" answer still carries the policies the validator refused.
      issues.push(...validation.validationErrors.map((e) => located(e.error.sourceLocations?.[0]?.start, e.error.message, e.error.help)));
      warnings.push(...validation.validationWarnings.map((e) => ({ ...located(e.error.sourceLocations?.[0]?.start, e.error.message, e.error.help), code: 'policy_warning' })));
      const parts = engine.policySetTextToParts(source.text);
      if (parts.type === 'failure') {
        issues.push(...parts.errors.map((error) => located(error.sourceLocations?.[0]?.start, error.message, error.help)));
        continue;
      }
      if (parts.policy_templates.length > 0) issues.push(located(0, 'policy templates are not supported: write static policies'));
      let searchFrom = 0;
      parts.policies.forEach((text, index) => {
        const json = engine.policyToJson(text);
        if (json.type === 'failure') return; // validate reported it
        const at = source.text.indexOf(text, searchFrom);
        if (at >= 0) searchFrom = at + text.length;
        const where = located(Math.max(at, 0), '');
        const id = json.json.annotations?.id ?? `${source.file}#${index + 1}`;
        if (Object.hasOwn(byId, id) || id === GRANTS_POLICY_ID) {
          issues.push(located(Math.max(at, 0), `policy id '${id}' is used twice in this policy set: each @id must be unique`));
          return;
        }
        byId[id] = text;
        trees.push(json.json);
        const keys = [...text.matchAll(/Voidkey::Key::"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
        policies.push({ id, effect: json.json.effect, file: source.file, line: where.line, keys, anyKey: keys.length === 0 });
        if (json.json.effect === 'permit') {
          warnings.push({
            ...where,
            code: 'policy_permit_no_effect',
            message: `permit policy '${id}' has no effect: YAML identities grant keys and policies can only take access away (write a forbid)`,
          });
        }
      });
    }
    if (issues.length > 0) throw new PolicySetError(issues);
    byId[GRANTS_POLICY_ID] = GRANTS_POLICY;
    this.setId = `${label}:${this.version}`;
    const parsed = engine.preparsePolicySet(this.setId, { staticPolicies: byId });
    if (parsed.type !== 'success') throw new PolicySetError(parsed.errors.map((error) => ({ file: sources[0]?.file ?? label, line: 1, column: 1, message: error.message })));
    this.policies = policies;
    this.warnings = warnings;
    const reads = policyReads(trees); // the YAML grants' permit reads nothing
    this.readTags = reads.tags;
    this.readContext = reads.context;
    const cacheSize = options.cacheSize ?? DEFAULT_DECISION_CACHE_SIZE;
    this.cache = cacheSize > 0 ? new DecisionCache(cacheSize) : undefined;
  }

  /** Hits, misses and entries of the decision cache (undefined when it is off). */
  get cacheStats(): { hits: number; misses: number; size: number; capacity: number } | undefined {
    return this.cache && { hits: this.cache.hits, misses: this.cache.misses, size: this.cache.size, capacity: this.cache.capacity };
  }

  /**
   * The decision for one key of one request, memoised: the key is exactly what Cedar is
   * handed (the tags and context the set reads, every attribute), so a hit answers as a
   * fresh evaluation would.
   */
  decide(query: PolicyQuery): PolicyVerdict {
    const input = this.inputOf(query);
    if (!this.cache) return this.run(query, input);
    const key = JSON.stringify([
      query.principal.subject, query.principal.idp, query.principal.identities, input.principalTags,
      query.resource.key, query.resource.provider, query.resource.providerType, query.resource.identity, input.resourceTags,
      input.context,
    ]);
    if (key.length > MAX_DECISION_KEY_LENGTH) return this.run(query, input);
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const verdict = this.run(query, input);
    this.cache.set(key, verdict);
    return verdict;
  }

  /** A fresh evaluation, never memoised (`voidkey policy replay` decides recorded input this way). */
  evaluate(query: PolicyQuery): PolicyVerdict {
    return this.run(query, this.inputOf(query));
  }

  private inputOf(query: PolicyQuery): DecisionInput {
    return { principalTags: this.tagsFor(query.principal.tags), resourceTags: this.tagsFor(query.resource.tags), context: this.contextFor(query.context) };
  }

  private tagsFor(tags: Readonly<Record<string, string>>): Record<string, string> {
    if (this.readTags === undefined) return { ...tags };
    // fromEntries makes own properties: a claim named __proto__ stays a tag, never a prototype.
    const kept: Array<[string, string]> = [];
    for (const name of this.readTags) if (Object.hasOwn(tags, name)) kept.push([name, tags[name]!]);
    return Object.fromEntries(kept);
  }

  /**
   * The context Cedar is handed: the attributes the set reads, and a fixed stand-in for
   * each one it never reads (Cedar parses the context against the schema, which requires
   * them; no policy can tell the difference). An unread `sourceIp` is left out, so an
   * address Cedar's ip() would refuse cannot deny a request no policy asks about.
   */
  private contextFor(context: PolicyContext): CedarWasm.Context {
    const read = this.readContext;
    if (read === undefined) return cedarContext(context);
    return {
      durationSeconds: read.has('durationSeconds') ? context.durationSeconds : 0,
      keys: read.has('keys') ? [...context.keys] : [],
      now: read.has('now') ? context.now : 0,
      utcHour: read.has('utcHour') ? context.utcHour : 0,
      utcWeekday: read.has('utcWeekday') ? context.utcWeekday : 0,
      ...(context.sourceIp === undefined || !read.has('sourceIp') ? {} : { sourceIp: { __extn: { fn: 'ip', arg: context.sourceIp } } }),
    };
  }

  private run(query: PolicyQuery, input: DecisionInput): PolicyVerdict {
    this.evaluations++;
    const answer = cedar().statefulIsAuthorized({
      principal: { type: 'Voidkey::Caller', id: query.principal.subject },
      action: { type: 'Voidkey::Action', id: 'mint' },
      resource: { type: 'Voidkey::Key', id: query.resource.key },
      context: input.context,
      // Entities are checked against the schema; the request itself is built here to the
      // schema's shape, so validating it again would cost a third of a decision for nothing
      // (and the context holds only what the policies read).
      preparsedSchemaName: SCHEMA_ID,
      validateRequest: false,
      preparsedPolicySetId: this.setId,
      entities: [
        {
          uid: { type: 'Voidkey::Caller', id: query.principal.subject },
          attrs: { idp: query.principal.idp, subject: query.principal.subject, identities: [...query.principal.identities] },
          parents: [],
          tags: input.principalTags,
        },
        {
          uid: { type: 'Voidkey::Key', id: query.resource.key },
          attrs: { provider: query.resource.provider, providerType: query.resource.providerType, identity: query.resource.identity },
          parents: [],
          tags: input.resourceTags,
        },
      ],
    });
    // A request Cedar cannot evaluate (a context it refuses) denies: fail closed.
    if (answer.type !== 'success') return verdict('deny', [], ['voidkey.request']);
    const { decision, diagnostics } = answer.response;
    const errors = diagnostics.errors.map((e) => e.policyId);
    // Cedar skips a policy that errors; a forbid that errors must not turn into an allow.
    if (errors.length > 0) return verdict('deny', diagnostics.reason.filter((id) => id !== GRANTS_POLICY_ID), errors);
    return verdict(decision, diagnostics.reason, errors);
  }
}

interface DecisionInput {
  readonly principalTags: Record<string, string>;
  readonly resourceTags: Record<string, string>;
  readonly context: CedarWasm.Context;
}

/** Frozen: one verdict may answer many requests and sit in many audit events. */
function verdict(decision: 'allow' | 'deny', policies: readonly string[], errors: readonly string[]): PolicyVerdict {
  return Object.freeze({ decision, policies: Object.freeze([...policies]), errors: Object.freeze([...errors]) });
}

function cedarContext(context: PolicyQuery['context']): CedarWasm.Context {
  return {
    durationSeconds: context.durationSeconds,
    keys: [...context.keys],
    now: context.now,
    utcHour: context.utcHour,
    utcWeekday: context.utcWeekday,
    ...(context.sourceIp === undefined ? {} : { sourceIp: { __extn: { fn: 'ip', arg: context.sourceIp } } }),
  };
}

/** Cedar's spans are UTF-8 byte offsets into the text it was given; problems want line and column. */
function locator(source: PolicySource): (byteOffset: number | undefined, message: string, help?: string | null) => PolicyIssue {
  const bytes = new TextEncoder().encode(source.text);
  const decoder = new TextDecoder();
  return (byteOffset, message, help) => {
    const offset = decoder.decode(bytes.subarray(0, Math.max(0, Math.min(byteOffset ?? 0, bytes.length)))).length;
    const before = source.text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - before.lastIndexOf('\n');
    // Cedar names policies of one file policy0, policy1…: the location says which one better.
    const text = message.replace(/^for policy `policy\d+`, /, '');
    return { file: source.file, line, column, message: help ? `${text} (${help})` : text };
  };
}
