import { HttpError, type HttpClient } from '../http';
import { PolicyUnavailable } from '../errors';
import type { PolicyQuery } from './policy-decider';

export interface PdpConfig {
  readonly url: string;
  readonly timeoutMs?: number;
}

/** A PDP answer is a small JSON object: anything larger is not one. */
const MAX_ANSWER_BYTES = 64 * 1024;
export const DEFAULT_PDP_TIMEOUT_MS = 300;

/**
 * An OpenID AuthZEN 1.0 Access Evaluation client (POST {subject, action, resource,
 * context} → {decision: boolean}). It fails closed: a timeout, a network error, a
 * non-200, a body that is not JSON or whose `decision` is not a boolean throws
 * PolicyUnavailable (503), so nothing is minted. The PDP never sees a token or a credential.
 */
export class AuthzenPdp {
  readonly timeoutMs: number;

  constructor(
    readonly config: PdpConfig,
    private readonly http: HttpClient,
  ) {
    this.timeoutMs = config.timeoutMs ?? DEFAULT_PDP_TIMEOUT_MS;
  }

  async evaluate(query: PolicyQuery, signal?: AbortSignal): Promise<boolean> {
    const body = JSON.stringify(authzenRequest(query));
    let response;
    try {
      response = await this.http.request({
        method: 'POST',
        url: this.config.url,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        timeoutMs: this.timeoutMs,
        maxBytes: MAX_ANSWER_BYTES,
        signal,
      });
    } catch (err) {
      const failure = err instanceof HttpError ? err.failure : 'network';
      throw unavailable(failure === 'timeout' ? `no answer within ${this.timeoutMs} ms` : `request failed (${failure})`, err);
    }
    if (response.status !== 200) throw unavailable(`answered HTTP ${response.status}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch (err) {
      throw unavailable('answered a body that is not JSON', err);
    }
    const decision = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as { decision?: unknown }).decision : undefined;
    if (typeof decision !== 'boolean') throw unavailable('answered without a boolean decision');
    return decision;
  }
}

function unavailable(what: string, cause?: unknown): PolicyUnavailable {
  return new PolicyUnavailable('the policy decision point could not decide; nothing was minted', { detail: `pdp ${what}`, cause, retryAfterSeconds: 1 });
}

/** The AuthZEN 1.0 access evaluation request for one key. */
export function authzenRequest(query: PolicyQuery): Record<string, unknown> {
  return {
    subject: {
      type: 'caller',
      id: query.principal.subject,
      properties: { idp: query.principal.idp, identities: query.principal.identities, claims: query.principal.tags },
    },
    action: { name: 'mint' },
    resource: {
      type: 'key',
      id: query.resource.key,
      properties: { provider: query.resource.provider, providerType: query.resource.providerType, identity: query.resource.identity, tags: query.resource.tags },
    },
    context: query.context,
  };
}
