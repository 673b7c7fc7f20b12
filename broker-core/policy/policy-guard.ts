import type { JWTPayload } from 'jose';
import { PolicyDenied, PolicyUnavailable, type BrokerError } from '../errors';
import type { AuthzenPdp } from './authzen-pdp';
import type { PolicyContext, PolicyDecider, PolicyPrincipal, PolicyQuery, PolicyResource, PolicyVerdict } from './policy-decider';

export type PolicySetName = 'active' | 'observe' | 'pdp';

export interface PolicyObserver {
  policyDecision?(set: PolicySetName, decision: 'allow' | 'deny' | 'error'): void;
  policyDisagreement?(): void;
}

/** One key as the policy step sees it. */
export interface PolicyItem {
  readonly resource: PolicyResource;
  readonly durationSeconds: number;
}

/** The policy part of an audit event: each set's verdicts and what a replay needs. */
export interface PolicyAudit {
  readonly active?: { readonly version: string; readonly decisions: Record<string, PolicyVerdict> };
  readonly observe?: { readonly version?: string; readonly decisions?: Record<string, PolicyVerdict>; readonly error?: string };
  readonly pdp?: { readonly decisions: Record<string, 'allow' | 'deny' | 'unavailable'> };
  /** The claims and context that went into the decisions (never the token, never a credential). */
  readonly input: {
    readonly principal: PolicyPrincipal;
    readonly context: Omit<PolicyContext, 'durationSeconds'>;
    readonly resources: Record<string, PolicyResource & { readonly durationSeconds: number }>;
  };
}

export interface PolicyOutcome {
  readonly audit: PolicyAudit;
  /** Keys a policy denies (empty when all are allowed). */
  readonly denied: readonly string[];
  /** Set when the PDP could not decide: the request fails closed. */
  readonly error?: BrokerError;
}

export interface PolicyGuardOptions {
  readonly active?: PolicyDecider;
  readonly observe?: PolicyDecider;
  /** The candidate set did not load: recorded on every event, never breaks the active path. */
  readonly observeProblem?: string;
  readonly pdp?: AuthzenPdp;
  readonly observer?: PolicyObserver;
}

/**
 * The policy step: the active set (and the PDP) decide, the observe set is evaluated
 * beside them and only recorded. All or nothing: one denied key denies the request.
 */
export class PolicyGuard {
  constructor(private readonly options: PolicyGuardOptions) {}

  get versions(): { active?: string; observe?: string; pdp?: string } {
    return {
      ...(this.options.active ? { active: this.options.active.version } : {}),
      ...(this.options.observe ? { observe: this.options.observe.version } : {}),
      ...(this.options.pdp ? { pdp: this.options.pdp.config.url } : {}),
    };
  }

  async check(principal: PolicyPrincipal, context: Omit<PolicyContext, 'durationSeconds'>, items: readonly PolicyItem[], signal?: AbortSignal): Promise<PolicyOutcome> {
    const { active, observe, pdp, observer } = this.options;
    const queries = items.map((item): PolicyQuery => ({ principal, resource: item.resource, context: { ...context, durationSeconds: item.durationSeconds } }));
    const denied = new Set<string>();
    let activeAudit: PolicyAudit['active'];
    if (active) {
      const decisions: Record<string, PolicyVerdict> = {};
      for (const query of queries) {
        const verdict = decideSafely(active, query);
        decisions[query.resource.key] = verdict;
        observer?.policyDecision?.('active', verdict.errors.length > 0 ? 'error' : verdict.decision);
        if (verdict.decision === 'deny') denied.add(query.resource.key);
      }
      activeAudit = { version: active.version, decisions };
    }
    let observeAudit: PolicyAudit['observe'];
    if (observe) {
      const decisions: Record<string, PolicyVerdict> = {};
      for (const query of queries) {
        const verdict = decideSafely(observe, query);
        decisions[query.resource.key] = verdict;
        observer?.policyDecision?.('observe', verdict.errors.length > 0 ? 'error' : verdict.decision);
        const live = activeAudit?.decisions[query.resource.key]?.decision ?? 'allow';
        if (verdict.decision !== live) observer?.policyDisagreement?.();
      }
      observeAudit = { version: observe.version, decisions };
    } else if (this.options.observeProblem !== undefined) {
      observeAudit = { error: this.options.observeProblem };
    }
    let pdpAudit: PolicyAudit['pdp'];
    let error: BrokerError | undefined;
    // The PDP is asked for every key once the local set allows them all (all or nothing).
    if (pdp && denied.size === 0) {
      const decisions: Record<string, 'allow' | 'deny' | 'unavailable'> = {};
      const answers = await Promise.allSettled(queries.map((query) => pdp.evaluate(query, signal)));
      answers.forEach((answer, index) => {
        const key = queries[index]!.resource.key;
        if (answer.status === 'rejected') {
          decisions[key] = 'unavailable';
          observer?.policyDecision?.('pdp', 'error');
          error ??= answer.reason instanceof PolicyUnavailable ? answer.reason : new PolicyUnavailable('the policy decision point could not decide; nothing was minted', { cause: answer.reason });
        } else {
          decisions[key] = answer.value ? 'allow' : 'deny';
          observer?.policyDecision?.('pdp', decisions[key]);
          if (!answer.value) denied.add(key);
        }
      });
      pdpAudit = { decisions };
    }
    const audit: PolicyAudit = {
      ...(activeAudit ? { active: activeAudit } : {}),
      ...(observeAudit ? { observe: observeAudit } : {}),
      ...(pdpAudit ? { pdp: pdpAudit } : {}),
      input: {
        principal,
        context,
        resources: Object.fromEntries(items.map((item) => [item.resource.key, { ...item.resource, durationSeconds: item.durationSeconds }])),
      },
    };
    return { audit, denied: [...denied], ...(error ? { error } : {}) };
  }

  /** The error a mint answers when `denied` is not empty: it names keys, never a policy. */
  static denial(denied: readonly string[], audit: PolicyAudit): PolicyDenied {
    const determining = denied.flatMap((key) => {
      const verdict = audit.active?.decisions[key];
      const by = verdict?.decision === 'deny' ? [...verdict.policies, ...verdict.errors.map((id) => `${id} (error)`)] : ['pdp'];
      return [`${key}: ${by.join(', ') || 'no policy'}`];
    });
    return new PolicyDenied(`policy denies ${denied.map((key) => `'${key}'`).join(', ')}; no credentials were issued`, { detail: `denied by ${determining.join('; ')}` });
  }
}

/** A decider that throws (a wasm trap, a bug) denies: evaluation errors never allow. */
function decideSafely(decider: PolicyDecider, query: PolicyQuery): PolicyVerdict {
  try {
    return decider.decide(query);
  } catch {
    return { decision: 'deny', policies: [], errors: ['voidkey.engine'] };
  }
}

/** The token's string claims, as Cedar entity tags (other claim types are not tags). */
export function claimTags(claims: Readonly<JWTPayload>): Record<string, string> {
  // fromEntries defines own properties: a claim named __proto__ stays a tag, never a prototype.
  return Object.fromEntries(Object.entries(claims).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/** A client address Cedar's ip() accepts, or undefined (IPv4-mapped IPv6 is shown as IPv4). */
export function policySourceIp(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const plain = address.startsWith('::ffff:') && /^\d+\.\d+\.\d+\.\d+$/.test(address.slice(7)) ? address.slice(7) : address;
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(plain) && plain.split('.').every((part) => Number(part) <= 255)) return plain;
  if (/^[0-9A-Fa-f:.]+$/.test(plain) && plain.includes(':')) return plain;
  return undefined;
}
