import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENESIS_HASH, recordHash } from '../../broker-core/audit-chain';
import { readLines } from './read-lines';
import { verifyAuditFile } from './verify-audit';

const dir = mkdtempSync(join(tmpdir(), 'voidkey-audit-'));
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const other = generateKeyPairSync('ed25519');

/** A chain as the broker writes it (broker-server/audit-log.ts). */
function chain(count: number, options: { signWith?: typeof privateKey; from?: number; prevHash?: string } = {}): string[] {
  const lines: string[] = [];
  let prevHash = options.prevHash ?? GENESIS_HASH;
  for (let seq = options.from ?? 0; seq < (options.from ?? 0) + count; seq++) {
    const event = { requestId: `req-${seq}`, outcome: 'allowed', issued: [{ key: 'AWS_DEPLOY', credentialId: `ASIA${seq}` }] };
    const hash = recordHash(seq, prevHash, event);
    const sig = options.signWith ? sign(null, Buffer.from(hash), options.signWith).toString('base64') : undefined;
    lines.push(JSON.stringify({ seq, prevHash, hash, ...(sig ? { sig } : {}), event }));
    prevHash = hash;
  }
  return lines;
}

let n = 0;
function file(lines: readonly string[], trailingNewline = true): string {
  const path = join(dir, `audit-${n++}.jsonl`);
  writeFileSync(path, lines.join('\n') + (trailingNewline ? '\n' : ''));
  return path;
}

describe('verifyAuditFile', () => {
  const signed = chain(5, { signWith: privateKey });

  it('accepts an intact signed chain, with and without the key', () => {
    const path = file(signed);
    const last = JSON.parse(signed[4]!) as { hash: string };
    expect(verifyAuditFile(path, { publicKeyPem })).toEqual({ ok: true, records: 5, signed: 5, lastHash: last.hash, signaturesChecked: true });
    expect(verifyAuditFile(path)).toEqual({ ok: true, records: 5, signed: 5, lastHash: last.hash, signaturesChecked: false });
  });

  it('accepts an empty file and a file without a final newline', () => {
    expect(verifyAuditFile(file([]))).toMatchObject({ ok: true, records: 0, lastHash: GENESIS_HASH });
    expect(verifyAuditFile(file(signed, false))).toMatchObject({ ok: true, records: 5 });
  });

  it.each([
    ['a changed record', () => signed.map((line, i) => (i === 2 ? line.replace('ASIA2', 'ASIA9') : line)), { line: 3, seq: 2, problem: expect.stringMatching(/changed/) }],
    ['a removed record', () => signed.filter((_, i) => i !== 2), { line: 3, seq: 3, problem: expect.stringMatching(/missing \(removed\)/) }],
    ['swapped records', () => [signed[0]!, signed[2]!, signed[1]!, ...signed.slice(3)], { line: 2, seq: 2 }],
    ['a truncated line', () => [...signed.slice(0, 4), signed[4]!.slice(0, 40)], { line: 5, problem: expect.stringMatching(/not a JSON record/) }],
    ['a removed head', () => signed.slice(2), { line: 1, seq: 2, problem: expect.stringMatching(/starts at record 2, not at record 0/) }],
  ])('finds %s', (_name, lines, verdict) => {
    expect(verifyAuditFile(file(lines()))).toMatchObject({ ok: false, ...verdict });
  });

  it('accepts a file that continues another with partial', () => {
    const tail = chain(3, { from: 7, prevHash: 'a'.repeat(64) });
    expect(verifyAuditFile(file(tail))).toMatchObject({ ok: false, line: 1 });
    expect(verifyAuditFile(file(tail), { partial: true })).toMatchObject({ ok: true, records: 3 });
  });

  it('finds a forged and an unsigned record when given the key', () => {
    const forged = chain(3, { signWith: other.privateKey });
    expect(verifyAuditFile(file(forged), { publicKeyPem })).toMatchObject({ ok: false, line: 1, seq: 0, problem: expect.stringMatching(/forged/) });
    expect(verifyAuditFile(file(chain(2)), { publicKeyPem })).toMatchObject({ ok: false, line: 1, problem: 'is not signed' });
    const garbled = signed.map((line, i) => (i === 1 ? line.replace(/"sig":"[^"]+"/, '"sig":"!!"') : line));
    expect(verifyAuditFile(file(garbled), { publicKeyPem })).toMatchObject({ ok: false, line: 2, problem: expect.stringMatching(/forged/) });
  });

  // JSON.parse keeps the last of two members: the hash covers the real event while a reader keeping the first shows the forged one.
  it.each([
    ['event', (line: string) => line.replace('"event":', '"event":{"requestId":"req-2","outcome":"denied"},"event":')],
    ['seq', (line: string) => line.replace('{"seq":2,', '{"seq":9,"seq":2,')],
    ['a nested member', (line: string) => line.replace('"outcome":"allowed"', '"outcome":"denied","outcome":"allowed"')],
    ['an escaped spelling', (line: string) => line.replace('"event":', '"\\u0065vent":{"outcome":"denied"},"event":')],
  ])('refuses a record with a duplicate %s member, after the records before it', (_name, forge) => {
    // Positive control: the same chain, untouched, verifies with the key.
    expect(verifyAuditFile(file(signed), { publicKeyPem })).toMatchObject({ ok: true, records: 5 });
    const forged = signed.map((line, i) => (i === 2 ? forge(line) : line));
    // The hash and the signature still hold for what JSON.parse reads.
    expect(JSON.parse(forged[2]!)).toEqual(JSON.parse(signed[2]!));
    expect(verifyAuditFile(file(forged), { publicKeyPem })).toEqual({
      ok: false,
      line: 3,
      seq: 2,
      problem: 'has two members of the same name (edited: the broker never writes one)',
      signaturesChecked: true,
    });
    // A problem in an earlier record is still the one reported.
    const earlier = forged.map((line, i) => (i === 1 ? line.replace('ASIA1', 'ASIA9') : line));
    expect(verifyAuditFile(file(earlier), { publicKeyPem })).toMatchObject({ ok: false, line: 2, problem: expect.stringMatching(/changed/) });
  });

  it('refuses a duplicate member in the first record as well', () => {
    const forged = [signed[0]!.replace('"event":', '"event":{"outcome":"denied"},"event":'), ...signed.slice(1)];
    expect(verifyAuditFile(file(forged))).toMatchObject({ ok: false, line: 1, seq: 0, problem: expect.stringMatching(/two members of the same name/) });
  });

  it('refuses a key that is not Ed25519', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => verifyAuditFile(file(signed), { publicKeyPem: rsa })).toThrow(/Ed25519, this is a rsa key/);
    expect(() => verifyAuditFile(file(signed), { publicKeyPem: 'nope' })).toThrow(/not a PEM public key/);
  });
});

describe('readLines', () => {
  it('splits across chunk boundaries, multi-byte characters included', () => {
    const lines = ['ключ 🔑', '', 'x'.repeat(100), 'end'];
    const path = file(lines, false);
    expect([...readLines(path, 7)]).toEqual(lines);
    expect([...readLines(file(lines), 3)]).toEqual(lines);
  });
});
