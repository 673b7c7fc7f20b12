import type { BrokerConfig } from '../../broker-core/config/types';
import type { CedarPolicySet } from '../../broker-core/policy/cedar-policy-set';
import type { PolicyAudit } from '../../broker-core/policy/policy-guard';
import { readLines } from './read-lines';

export interface ReplayChange {
  readonly line: number;
  readonly requestId: string;
  readonly subject: string;
  readonly key: string;
  readonly before: 'allow' | 'deny';
  readonly after: 'allow' | 'deny';
  /** The candidate's determining policies (and errored ones, marked). */
  readonly policies: readonly string[];
}

export interface ReplayReport {
  readonly candidateVersion: string;
  /** Events with policy input (the others never reached the policy step). */
  readonly requests: number;
  readonly decisions: number;
  readonly newlyDenied: readonly ReplayChange[];
  readonly newlyAllowed: readonly ReplayChange[];
  /** Lines that are not audit records (reported, not fatal). */
  readonly skipped: readonly number[];
}

interface RecordedEvent {
  readonly requestId?: string;
  readonly subject?: string;
  readonly policy?: PolicyAudit;
}

/**
 * Evaluates a candidate policy set over a recorded audit file (the broker's audit file,
 * `{seq, …, event}` per line, or its stdout log lines `{msg: "audit", audit}`): every key
 * decision whose claims and context were recorded is decided again, key attributes and
 * tags taken from the config as it is now. "Before" is what the broker answered: the
 * active set's verdict, then the PDP's.
 */
export function replayAudit(path: string, config: BrokerConfig, candidate: CedarPolicySet): ReplayReport {
  const keys = keyIndex(config);
  const newlyDenied: ReplayChange[] = [];
  const newlyAllowed: ReplayChange[] = [];
  const skipped: number[] = [];
  let requests = 0;
  let decisions = 0;
  let line = 0;
  for (const text of readLines(path)) {
    line++;
    if (text.trim() === '') continue;
    const event = eventOf(text);
    if (event === undefined) {
      skipped.push(line);
      continue;
    }
    const input = event.policy?.input;
    if (input === undefined) continue;
    requests++;
    for (const [key, recorded] of Object.entries(input.resources)) {
      decisions++;
      const before = recordedDecision(event.policy!, key);
      const current = keys.get(key);
      const { durationSeconds, ...resource } = recorded;
      const verdict = candidate.evaluate({
        principal: input.principal,
        resource: current ? { ...resource, tags: current.tags ?? {}, provider: current.provider } : resource,
        context: { ...input.context, durationSeconds },
      });
      if (verdict.decision === before) continue;
      const change: ReplayChange = {
        line,
        requestId: event.requestId ?? '',
        subject: event.subject ?? input.principal.subject,
        key,
        before,
        after: verdict.decision,
        policies: [...verdict.policies, ...verdict.errors.map((id) => `${id} (error)`)],
      };
      (verdict.decision === 'deny' ? newlyDenied : newlyAllowed).push(change);
    }
  }
  return { candidateVersion: candidate.version, requests, decisions, newlyDenied, newlyAllowed, skipped };
}

function recordedDecision(policy: PolicyAudit, key: string): 'allow' | 'deny' {
  if (policy.active?.decisions[key]?.decision === 'deny') return 'deny';
  if (policy.pdp?.decisions[key] === 'deny') return 'deny';
  return 'allow';
}

function eventOf(text: string): RecordedEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const record = parsed as { event?: unknown; audit?: unknown; requestId?: unknown };
  const event = record.event ?? record.audit ?? (typeof record.requestId === 'string' ? record : undefined);
  if (event === null || typeof event !== 'object') return undefined;
  const policy = (event as RecordedEvent).policy;
  if (policy !== undefined && !wellFormed(policy)) return undefined;
  return event as RecordedEvent;
}

/** Enough shape to replay: a principal with tags, a context, resources with durations. */
function wellFormed(policy: PolicyAudit): boolean {
  const input = policy.input as Partial<PolicyAudit['input']> | undefined;
  if (!input || typeof input !== 'object') return false;
  const p = input.principal;
  if (!p || typeof p.subject !== 'string' || typeof p.idp !== 'string' || !Array.isArray(p.identities) || !p.tags || typeof p.tags !== 'object') return false;
  const c = input.context;
  if (!c || typeof c.now !== 'number' || !Array.isArray(c.keys)) return false;
  if (!input.resources || typeof input.resources !== 'object') return false;
  return Object.values(input.resources).every((r) => r && typeof r.durationSeconds === 'number' && typeof r.key === 'string' && r.tags && typeof r.tags === 'object');
}

function keyIndex(config: BrokerConfig): Map<string, { provider: string; tags?: Record<string, string> }> {
  const index = new Map<string, { provider: string; tags?: Record<string, string> }>();
  for (const identity of config.clientIdentities) {
    for (const [name, key] of Object.entries(identity.keys)) if (!index.has(name)) index.set(name, key);
  }
  return index;
}

/** The report as text: a summary line and a table of the changed decisions. */
export function renderReplay(report: ReplayReport, format: 'text' | 'json', printable: (value: string) => string): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  const lines = [
    `candidate ${report.candidateVersion.slice(0, 12)}: ${report.decisions} key decisions in ${report.requests} requests replayed; ${report.newlyDenied.length} newly denied, ${report.newlyAllowed.length} newly allowed`,
  ];
  const rows = [...report.newlyDenied, ...report.newlyAllowed];
  if (rows.length > 0) {
    const table = [['CHANGE', 'REQUEST ID', 'SUBJECT', 'KEY', 'POLICIES'], ...rows.map((r) => [r.after === 'deny' ? 'newly denied' : 'newly allowed', r.requestId, r.subject, r.key, r.policies.join(', ') || '-'].map(printable))];
    const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
    lines.push('', ...table.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()));
  }
  if (report.skipped.length > 0) lines.push('', `skipped ${report.skipped.length} line(s) that are not audit records: ${report.skipped.slice(0, 10).join(', ')}${report.skipped.length > 10 ? ', …' : ''}`);
  return `${lines.join('\n')}\n`;
}
