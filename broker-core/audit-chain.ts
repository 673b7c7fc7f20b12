import { hash } from 'node:crypto';

/**
 * Tamper evidence for the audit trail. Each record carries its sequence number, the
 * previous record's hash and its own hash over (seq, prevHash, canonical event); a
 * signature (Ed25519, over the hash) makes the chain unforgeable without the key.
 * Pure and dependency-free: the broker writes chains, `voidkey audit verify` reads them.
 */
export interface AuditRecord {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
  /** base64 Ed25519 signature over the UTF-8 bytes of `hash`, when the broker has a signing key. */
  readonly sig?: string;
  readonly event: unknown;
}

export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with object keys sorted at every level: one byte sequence per value. Members whose
 * value is undefined are left out; undefined in an array is null (as JSON.stringify does).
 * Written as loops: it runs once per audit record, on the request path.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += canonicalJson(item === undefined ? null : item);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${quotedKey(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}

/** Member names repeat from event to event: each is quoted once (a bounded memo, as claim names come from tokens). */
const quotedKeys = new Map<string, string>();
function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < 4096 && key.length <= 64) quotedKeys.set(key, quoted);
  }
  return quoted;
}

export function recordHash(seq: number, prevHash: string, event: unknown): string {
  return hash('sha256', `${seq}\n${prevHash}\n${canonicalJson(event)}`, 'hex');
}

export type ChainVerdict =
  | { readonly ok: true; readonly records: number; readonly signed: number; readonly lastHash: string }
  | { readonly ok: false; readonly line: number; readonly seq?: number; readonly problem: string };

/**
 * Reads a chain line by line and reports the first record that was changed, removed,
 * inserted or reordered. `verifySignature` checks a record's signature; when given,
 * every record must be signed.
 */
export function verifyChain(lines: Iterable<string>, verifySignature?: (hash: string, sig: string) => boolean): ChainVerdict {
  let expectedSeq: number | undefined;
  let prevHash: string | undefined;
  let records = 0;
  let signed = 0;
  let lineNumber = 0;
  for (const line of lines) {
    lineNumber++;
    if (line.trim() === '') continue;
    let record: AuditRecord;
    try {
      record = JSON.parse(line) as AuditRecord;
    } catch {
      return { ok: false, line: lineNumber, problem: 'not a JSON record (truncated or edited)' };
    }
    if (typeof record.seq !== 'number' || typeof record.prevHash !== 'string' || typeof record.hash !== 'string') {
      return { ok: false, line: lineNumber, problem: 'not an audit record (seq, prevHash, hash missing)' };
    }
    if (expectedSeq !== undefined && record.seq !== expectedSeq) {
      return {
        ok: false,
        line: lineNumber,
        seq: record.seq,
        problem: record.seq > expectedSeq ? `records ${expectedSeq}..${record.seq - 1} are missing (removed)` : `record ${record.seq} is out of order (expected ${expectedSeq})`,
      };
    }
    if (prevHash !== undefined && record.prevHash !== prevHash) {
      return { ok: false, line: lineNumber, seq: record.seq, problem: 'does not follow the previous record (removed, inserted or reordered)' };
    }
    if (recordHash(record.seq, record.prevHash, record.event) !== record.hash) {
      return { ok: false, line: lineNumber, seq: record.seq, problem: 'its content does not match its hash (changed)' };
    }
    if (verifySignature) {
      if (typeof record.sig !== 'string') return { ok: false, line: lineNumber, seq: record.seq, problem: 'is not signed' };
      if (!verifySignature(record.hash, record.sig)) return { ok: false, line: lineNumber, seq: record.seq, problem: 'its signature does not verify (forged)' };
      signed++;
    } else if (typeof record.sig === 'string') {
      signed++;
    }
    expectedSeq = record.seq + 1;
    prevHash = record.hash;
    records++;
  }
  return { ok: true, records, signed, lastHash: prevHash ?? GENESIS_HASH };
}
