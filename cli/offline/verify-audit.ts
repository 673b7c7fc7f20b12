import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { GENESIS_HASH, verifyChain, type ChainVerdict } from '../../broker-core/audit-chain';
import { hasDuplicateMembers } from '../../broker-core/token/json-duplicates';
import { UsageError } from '../errors';
import { readLines } from './read-lines';

export interface VerifyAuditOptions {
  /** PEM of the broker's Ed25519 key (public, or the private one it derives from): every record must carry a valid signature. */
  readonly publicKeyPem?: string;
  /** The file continues another (its first record need not be record 0). */
  readonly partial?: boolean;
}

export type AuditVerdict = ChainVerdict & { readonly signaturesChecked: boolean };

/**
 * Checks an audit file written by the broker (`server.audit.file`): broker-core's
 * verifyChain finds a record that was changed, removed, inserted or reordered, and
 * with a key a forged one. What it cannot see from inside the chain is checked here: the
 * broker starts every file at record 0 after the genesis hash, so a file that starts
 * later lost its head. A truncated tail leaves a valid chain: compare the last hash
 * with one kept elsewhere. Nor can it see a record with two members of one name: JSON.parse
 * keeps the last, so a forged first `event` (or `seq`, `hash`…) would pass the hash check
 * while a reader of the file that keeps the first member (a SIEM, a log shipper) shows the
 * forgery. The broker never writes one, so such a record is refused as edited.
 */
export function verifyAuditFile(path: string, options: VerifyAuditOptions = {}): AuditVerdict {
  const key = options.publicKeyPem === undefined ? undefined : ed25519Key(options.publicKeyPem);
  let first: { line: number; seq?: unknown; prevHash?: unknown } | undefined;
  let lineNumber = 0;
  let duplicated: { line: number; seq?: number } | undefined;
  function* lines(): Generator<string> {
    for (const line of readLines(path)) {
      lineNumber++;
      if (line.trim() === '') {
        yield line;
        continue;
      }
      const head = parseHead(line);
      if (first === undefined) first = { line: lineNumber, ...head };
      if (head.json && hasDuplicateMembers(line)) {
        // The chain ends here for verifyChain: the problems before this line come first.
        duplicated = { line: lineNumber, seq: typeof head.seq === 'number' ? head.seq : undefined };
        return;
      }
      yield line;
    }
  }
  const chain = verifyChain(lines(), key === undefined ? undefined : (hash, sig) => signatureHolds(key, hash, sig));
  const verdict: ChainVerdict =
    chain.ok && duplicated !== undefined
      ? { ok: false, ...duplicated, problem: 'has two members of the same name (edited: the broker never writes one)' }
      : chain;
  const signaturesChecked = key !== undefined;
  if (options.partial !== true && first !== undefined && (first.seq !== 0 || first.prevHash !== GENESIS_HASH)) {
    // The first record is the earliest line verifyChain can complain about: this problem comes first.
    const seq = typeof first.seq === 'number' ? first.seq : undefined;
    if (seq !== undefined && typeof first.prevHash === 'string') {
      return {
        ok: false,
        line: first.line,
        seq,
        problem: `the chain starts at record ${seq}${seq === 0 ? ' with a previous hash that is not the genesis hash' : ', not at record 0'}: records before it were removed (pass --partial for a file that continues another)`,
        signaturesChecked,
      };
    }
  }
  return { ...verdict, signaturesChecked };
}

function parseHead(line: string): { json: boolean; seq?: unknown; prevHash?: unknown } {
  try {
    const record = JSON.parse(line) as { seq?: unknown; prevHash?: unknown };
    return record !== null && typeof record === 'object' ? { json: true, seq: record.seq, prevHash: record.prevHash } : { json: true };
  } catch {
    return { json: false };
  }
}

function ed25519Key(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new UsageError('--public-key: not a PEM public key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UsageError(`--public-key: the broker signs with Ed25519, this is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key`);
  return key;
}

function signatureHolds(key: KeyObject, hash: string, sig: string): boolean {
  try {
    return verify(null, Buffer.from(hash), key, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}
