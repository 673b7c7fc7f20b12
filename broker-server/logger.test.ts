import pino from 'pino';
import type { AuditEvent } from '../broker-core';
import { AuditLog } from './audit-log';
import { createLogger, flushOutput, LINE_DELAY_MS, outputBroken } from './logger';

// Timers fire in the order they expire: the logger's (set earlier, no later) comes first.
const afterDelay = () => new Promise((done) => setTimeout(done, LINE_DELAY_MS + 1));

function recording() {
  const writes: string[] = [];
  return { writes, destination: { write: (text: string) => void writes.push(text) } };
}

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

describe('createLogger: log lines are held briefly and written together', () => {
  it('writes each line at once when not buffered (positive control)', () => {
    const { writes, destination } = recording();
    const logger = createLogger({ destination });
    logger.info('one');
    logger.info('two');
    expect(writes).toHaveLength(2);
  });

  it(`holds lines for ${LINE_DELAY_MS} ms and writes them together, in order`, async () => {
    const { writes, destination } = recording();
    const logger = createLogger({ destination, turnBuffered: true });
    logger.info('one');
    logger.warn('two');
    logger.child({ requestId: 'r' }).info('three');
    expect(writes).toEqual([]);
    await afterDelay();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.trimEnd().split('\n').map((line) => JSON.parse(line).msg)).toEqual(['one', 'two', 'three']);
    logger.info('four');
    await afterDelay();
    expect(writes).toHaveLength(2);
  });

  it('flushOutput writes what is held at once (the audit trail calls it after each record)', () => {
    const { writes, destination } = recording();
    const logger = createLogger({ destination, turnBuffered: true });
    logger.info({ requestId: 'a' }, 'request');
    expect(writes).toEqual([]);
    const audit = new AuditLog({ stdout: true, failClosed: true, logger });
    audit.write(event);
    // The record is out before write() returns, with the earlier line ahead of it.
    expect(writes).toHaveLength(1);
    expect(writes[0]!.trimEnd().split('\n').map((line) => JSON.parse(line).msg)).toEqual(['request', 'audit']);
    flushOutput(logger);
    expect(writes).toHaveLength(1);
  });

  it('fails closed and drops later lines when the buffered output cannot be written (ENOSPC)', async () => {
    const good = createLogger({ level: 'warn', destination: pino.destination({ dest: '/dev/null', sync: true }), turnBuffered: true });
    expect(() => new AuditLog({ stdout: true, failClosed: true, logger: good }).write(event)).not.toThrow();
    expect(outputBroken(good)).toBe(false);

    const full = createLogger({ level: 'warn', destination: pino.destination({ dest: '/dev/full', sync: true }), turnBuffered: true });
    const failures: string[] = [];
    const audit = new AuditLog({ stdout: true, failClosed: true, logger: full, onWriteFailure: (sink) => failures.push(sink) });
    expect(() => audit.write(event)).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_UNAVAILABLE' }));
    expect(outputBroken(full)).toBe(true);
    expect(failures).toEqual(['stdout']);
    for (let i = 0; i < 1_000; i++) full.warn({ i }, 'x'.repeat(1_000));
    await afterDelay();
    expect(() => audit.write(event)).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_UNAVAILABLE' }));
  });
});
