import pino from 'pino';
import type { AuditEvent } from '../broker-core';
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
