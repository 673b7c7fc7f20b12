import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { verifyChain, type AuditEvent } from '../broker-core';
import { AuditLog } from './audit-log';
import { createLogger, outputBroken } from './logger';

const event: AuditEvent = {
  time: '2026-12-02T00:00:00.000Z',
  requestId: 'req-1',
  action: 'mint',
  outcome: 'allowed',
  keysRequested: ['AWS_DEPLOY'],
  keysGranted: ['AWS_DEPLOY'],
  issued: [],
  undelivered: [],
  client: {},
  durationMs: 1,
};

/** An audit log whose only sink is standard output, here a stream to `path`. */
function stdoutOnly(path: string) {
  const logger = createLogger({ level: 'warn', destination: pino.destination({ dest: path, sync: true }) });
  const failures: string[] = [];
  const audit = new AuditLog({ stdout: true, failClosed: true, logger, onWriteFailure: (sink) => failures.push(sink) });
  return { logger, audit, failures };
}

describe('AuditLog with standard output as its only sink', () => {
  it('writes records while the stream takes them (positive control)', () => {
    const { logger, audit, failures } = stdoutOnly('/dev/null');
    expect(() => audit.write(event)).not.toThrow();
    expect(() => audit.write(event)).not.toThrow();
    expect(outputBroken(logger)).toBe(false);
    expect(audit.writable).toBe(true);
    expect(failures).toEqual([]);
  });

  it('counts a failed write and fails closed when the stream cannot write (ENOSPC)', () => {
    const { logger, audit, failures } = stdoutOnly('/dev/full');
    expect(() => audit.write(event)).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_UNAVAILABLE' }));
    expect(outputBroken(logger)).toBe(true);
    expect(audit.writable).toBe(false);
    expect(() => audit.write(event)).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_UNAVAILABLE' }));
    expect(failures).toEqual(['stdout', 'stdout']);
    // The output is shut for good: later lines are dropped, not queued in memory.
    for (let i = 0; i < 1_000; i++) logger.warn({ i }, 'x'.repeat(1_000));
    const stream = (logger as unknown as Record<symbol, { _len: number }>)[pino.symbols.streamSym]!;
    expect(stream._len).toBeLessThan(10_000); // bytes waiting in the stream
  });
});

describe('AuditLog with group commit (the server)', () => {
  const nextTurn = () => new Promise((done) => setImmediate(done));

  it('writes the records of one turn together and lets each request answer only after that write', async () => {
    const writes: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (text: string) => void writes.push(text) }, turnBuffered: true });
    const audit = new AuditLog({ stdout: true, failClosed: true, logger, groupCommit: true });
    logger.info({ requestId: 'a' }, 'request');
    let answered = 0;
    const pending = [audit.write({ ...event, requestId: 'req-1' }), audit.write({ ...event, requestId: 'req-2' })].map((p) => Promise.resolve(p).then(() => answered++));
    expect(writes).toEqual([]); // nothing written, nobody answered, before the turn ends
    expect(answered).toBe(0);
    await Promise.all(pending);
    expect(answered).toBe(2);
    expect(writes).toHaveLength(1); // one write: the held line and both records, in order
    const lines = writes[0]!.trimEnd().split('\n').map((line) => JSON.parse(line) as { msg: string; seq?: number; audit?: { requestId: string } });
    expect(lines.map((line) => [line.msg, line.audit?.requestId, line.seq])).toEqual([
      ['request', undefined, undefined],
      ['audit', 'req-1', 0],
      ['audit', 'req-2', 1],
    ]);
    // The next turn's records are a batch of their own, continuing the chain.
    await audit.write(event);
    expect(writes).toHaveLength(2);
    expect((JSON.parse(writes[1]!) as { seq: number }).seq).toBe(2);
  });

  it('appends one turn to the file in one write, a chain that verifies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voidkey-audit-'));
    try {
      const file = join(dir, 'audit.jsonl');
      const logger = createLogger({ level: 'warn', destination: { write: () => undefined } });
      const audit = new AuditLog({ stdout: false, file, failClosed: true, logger, groupCommit: true });
      const first = audit.write(event);
      expect(readFileSync(file, 'utf8')).toBe(''); // held until the turn ends
      await Promise.all([first, audit.write(event)]);
      await audit.write(event);
      audit.close();
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      expect(verifyChain(lines)).toEqual(expect.objectContaining({ ok: true, records: 3 }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails every request of the turn closed when no sink could take its records (positive control first)', async () => {
    const good = createLogger({ level: 'warn', destination: pino.destination({ dest: '/dev/null', sync: true }), turnBuffered: true });
    await expect(new AuditLog({ stdout: true, failClosed: true, logger: good, groupCommit: true }).write(event)).resolves.toBeUndefined();

    const full = createLogger({ level: 'warn', destination: pino.destination({ dest: '/dev/full', sync: true }), turnBuffered: true });
    const failures: string[] = [];
    const audit = new AuditLog({ stdout: true, failClosed: true, logger: full, groupCommit: true, onWriteFailure: (sink) => failures.push(sink) });
    const outcomes = await Promise.allSettled([audit.write(event), audit.write(event)]);
    expect(outcomes.map((outcome) => outcome.status === 'rejected' && (outcome.reason as { code?: string }).code)).toEqual(['ERR_AUDIT_UNAVAILABLE', 'ERR_AUDIT_UNAVAILABLE']);
    expect(failures).toEqual(['stdout', 'stdout']);
    expect(audit.writable).toBe(false);
    await nextTurn();
  });

  it('without failClosed, a failed write is counted and the requests answer', async () => {
    const full = createLogger({ level: 'warn', destination: pino.destination({ dest: '/dev/full', sync: true }), turnBuffered: true });
    const failures: string[] = [];
    const audit = new AuditLog({ stdout: true, failClosed: false, logger: full, groupCommit: true, onWriteFailure: (sink) => failures.push(sink) });
    await expect(audit.write(event)).resolves.toBeUndefined();
    expect(failures).toEqual(['stdout']);
  });
});
