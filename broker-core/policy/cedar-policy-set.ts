import { createHash } from 'node:crypto';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';
import { VOIDKEY_CEDAR_SCHEMA } from './cedar-schema';
import type { PolicyDecider, PolicyQuery, PolicyVerdict } from './policy-decider';

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
   * The tag names the policies read with a literal `getTag("…")`/`hasTag("…")`, or
   * undefined when one reads a tag named by an expression: then every tag is passed.
   * Handing Cedar only these is most of a decision's cost saved (every string claim of a
   * CI token is a tag, and each crosses into the wasm module on every call).
   */
  private readonly readTags: ReadonlySet<string> | undefined;

  constructor(label: string, readonly sources: readonly PolicySource[]) {
    const engine = cedar();
    this.version = policySetVersion(sources);
    const issues: PolicyIssue[] = [];
    const warnings: PolicyIssue[] = [];
    const policies: PolicyInfo[] = [];
    const byId: Record<string, string> = {};
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
    this.readTags = tagsRead(Object.values(byId));
  }

  private tagsFor(tags: Readonly<Record<string, string>>): Record<string, string> {
    if (this.readTags === undefined) return { ...tags };
    // fromEntries makes own properties: a claim named __proto__ stays a tag, never a prototype.
    const kept: Array<[string, string]> = [];
    for (const name of this.readTags) if (Object.hasOwn(tags, name)) kept.push([name, tags[name]!]);
    return Object.fromEntries(kept);
  }

  decide(query: PolicyQuery): PolicyVerdict {
    const answer = cedar().statefulIsAuthorized({
      principal: { type: 'Voidkey::Caller', id: query.principal.subject },
      action: { type: 'Voidkey::Action', id: 'mint' },
      resource: { type: 'Voidkey::Key', id: query.resource.key },
      context: cedarContext(query.context),
      // Entities are checked against the schema; the request itself is built here to the
      // schema's shape, so validating it again would cost a third of a decision for nothing.
      preparsedSchemaName: SCHEMA_ID,
      validateRequest: false,
      preparsedPolicySetId: this.setId,
      entities: [
        {
          uid: { type: 'Voidkey::Caller', id: query.principal.subject },
          attrs: { idp: query.principal.idp, subject: query.principal.subject, identities: [...query.principal.identities] },
          parents: [],
          tags: this.tagsFor(query.principal.tags),
        },
        {
          uid: { type: 'Voidkey::Key', id: query.resource.key },
          attrs: { provider: query.resource.provider, providerType: query.resource.providerType, identity: query.resource.identity },
          parents: [],
          tags: this.tagsFor(query.resource.tags),
        },
      ],
    });
    // A request Cedar cannot evaluate (a context it refuses) denies: fail closed.
    if (answer.type !== 'success') return { decision: 'deny', policies: [], errors: ['voidkey.request'] };
    const { decision, diagnostics } = answer.response;
    const errors = diagnostics.errors.map((e) => e.policyId);
    // Cedar skips a policy that errors; a forbid that errors must not turn into an allow.
    if (errors.length > 0) return { decision: 'deny', policies: diagnostics.reason.filter((id) => id !== GRANTS_POLICY_ID), errors };
    return { decision, policies: diagnostics.reason, errors };
  }
}

/** Only the tags some policy reads: a policy can tell no difference, as a tag nothing names is never looked at. */
const TAG_CALL = /\b(?:get|has)Tag\s*\(/g;
const LITERAL_TAG_CALL = /\b(?:get|has)Tag\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)/g;

function tagsRead(texts: readonly string[]): ReadonlySet<string> | undefined {
  const names = new Set<string>();
  for (const text of texts) {
    const literal = [...text.matchAll(LITERAL_TAG_CALL)];
    if (literal.length !== [...text.matchAll(TAG_CALL)].length) return undefined; // a computed tag name: pass them all
    for (const match of literal) {
      // Cedar's escapes are JSON's but for \u{…}: a name this cannot read passes every tag.
      try {
        names.add(JSON.parse(`"${match[1]!}"`) as string);
      } catch {
        return undefined;
      }
    }
  }
  return names;
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
