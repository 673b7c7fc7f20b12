import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CONFIG_WARNING_CODES, type BrokerObserver, type ConfigIssue } from '../broker-core';

const KNOWN_ROUTES = new Set(['/credentials/mint', '/credentials/keys', '/credentials/idp-providers', '/health', '/healthz', '/readyz', '/metrics', '/openapi.json']);

/**
 * Prometheus metrics on the broker's own registry. Label values come only from bounded
 * sets: configured names, reason codes, known routes. Never subjects, tokens or addresses.
 */
export class BrokerMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'voidkey_http_requests_total',
    help: 'HTTP requests by route, status class and outcome reason',
    labelNames: ['route', 'status', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly outcomes = new Counter({
    name: 'voidkey_requests_total',
    help: 'Broker decisions by action, outcome (allowed, denied, failed) and reason code',
    labelNames: ['action', 'outcome', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly mintDuration = new Histogram({
    name: 'voidkey_mint_duration_seconds',
    help: 'Time to answer a mint request, by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly providerDuration = new Histogram({
    name: 'voidkey_provider_call_duration_seconds',
    help: 'Time of each access provider call, by provider, type and outcome',
    labelNames: ['provider', 'type', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly brokerDuration = new Histogram({
    name: 'voidkey_request_broker_seconds',
    help: "Time a credentials request spent in the broker itself: from its arrival to its answer, less the wait on access providers, by route and status class",
    labelNames: ['route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  private readonly providerErrors = new Counter({
    name: 'voidkey_provider_errors_total',
    help: 'Failed access provider calls by provider and reason',
    labelNames: ['provider', 'type', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly jwksFetches = new Counter({
    name: 'voidkey_jwks_fetches_total',
    help: 'JWKS (and discovery) fetches by IdP and outcome',
    labelNames: ['idp', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly jwksHits = new Counter({
    name: 'voidkey_jwks_cache_hits_total',
    help: 'Token verifications served from the cached key set, by IdP',
    labelNames: ['idp'] as const,
    registers: [this.registry],
  });
  private readonly brokerTokens = new Counter({
    name: 'voidkey_broker_token_requests_total',
    help: "Requests for the broker's own token at its IdP, by outcome",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly auditFailures = new Counter({
    name: 'voidkey_audit_write_failures_total',
    help: 'Audit records a sink could not write',
    labelNames: ['sink'] as const,
    registers: [this.registry],
  });

  private readonly policyDecisions = new Counter({
    name: 'voidkey_policy_decisions_total',
    help: 'Policy decisions, one per key of a request, by set (active, observe, pdp) and decision (allow, deny, error)',
    labelNames: ['set', 'decision'] as const,
    registers: [this.registry],
  });
  private readonly policyDisagreements = new Counter({
    name: 'voidkey_policy_disagreements_total',
    help: 'Keys the observe (candidate) set decided differently from the active set',
    registers: [this.registry],
  });

  private readonly configWarnings = new Gauge({
    name: 'voidkey_config_warnings',
    help: 'Warnings of the config in force (settings that load but are not honoured as written, or are risky), by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'voidkey_' });
  }

  /** The Broker's observer: every label value here is a configured name or a reason code. */
  readonly observer: BrokerObserver = {
    fetched: (idp, outcome) => this.jwksFetches.inc({ idp, outcome }),
    cacheHit: (idp) => this.jwksHits.inc({ idp }),
    requestCompleted: (action, outcome, reason, seconds) => {
      this.outcomes.inc({ action, outcome, reason });
      if (action === 'mint') this.mintDuration.observe({ outcome }, seconds);
    },
    providerCall: (provider, type, outcome, seconds) => {
      this.providerDuration.observe({ provider, type, outcome: outcome === 'ok' ? 'ok' : 'error' }, seconds);
      if (outcome !== 'ok') this.providerErrors.inc({ provider, type, reason: outcome });
    },
    brokerTokenRequested: (outcome) => this.brokerTokens.inc({ outcome }),
    policyDecision: (set, decision) => this.policyDecisions.inc({ set, decision }),
    policyDisagreement: () => this.policyDisagreements.inc(),
  };

  httpRequest(route: string | undefined, status: number, reason: string | undefined): void {
    const known = route !== undefined && KNOWN_ROUTES.has(route) ? route : 'other';
    this.requests.inc({ route: known, status: `${Math.floor(status / 100)}xx`, reason: reason ?? (status < 400 ? 'ok' : 'error') });
  }

  /** The broker's own share of a credentials request (`route` is a known route or 'other'). */
  brokerTime(route: string | undefined, status: number, seconds: number): void {
    const known = route !== undefined && KNOWN_ROUTES.has(route) ? route : 'other';
    this.brokerDuration.observe({ route: known, status: `${Math.floor(status / 100)}xx` }, Math.max(0, seconds));
  }

  /** Counts the loaded config's warnings by code; every known code is present (0 when absent), so a fixed config shows 0. */
  configLoaded(warnings: readonly ConfigIssue[]): void {
    const counts = new Map<string, number>([...CONFIG_WARNING_CODES, 'other'].map((code) => [code, 0]));
    for (const warning of warnings) {
      const code = warning.code !== undefined && counts.has(warning.code) ? warning.code : 'other';
      counts.set(code, counts.get(code)! + 1);
    }
    for (const [code, count] of counts) this.configWarnings.set({ code }, count);
  }

  auditWriteFailed(sink: 'stdout' | 'file'): void {
    this.auditFailures.inc({ sink });
  }
}
