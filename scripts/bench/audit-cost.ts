import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { recordHash, GENESIS_HASH, type AuditEvent } from '../../broker-core';
import { AuditLog } from '../../broker-server/audit-log';
import { createLogger } from '../../broker-server/logger';
import { ownCpuMs } from './proc';

export interface EventCost {
  readonly what: string;
  readonly cpuMicrosPerEvent: number;
}

/** An audit event shaped like the broker's for an allowed one-key mint. */
function sampleEvent(): AuditEvent {
  return {
    time: new Date().toISOString(),
    requestId: randomUUID(),
    action: 'mint',
    outcome: 'allowed',
    idp: 'github-actions',
    subject: 'repo:acme/app:ref:refs/heads/main',
    identities: ['app-main', 'app-any-branch'],
    keysRequested: ['AWS_DEPLOY'],
    keysGranted: ['AWS_DEPLOY'],
    issued: [
      {
        key: 'AWS_DEPLOY',
        identity: 'app-main',
        provider: 'aws-sandbox',
        type: 'aws-sts',
        credentialId: 'ASIAQ3EGQ7EXAMPLE0001',
        expiresAt: new Date(Date.now() + 900_000).toISOString(),
        upstreamRequestId: randomUUID(),
      },
    ],
    undelivered: [],
    tokenSha256: 'a'.repeat(64),
    client: { address: '127.0.0.1', userAgent: 'voidkey-cli/0.1.0 node/24' },
    durationMs: 3,
  };
}

/**
 * What one request's logging costs the broker's main thread, measured in this process on
 * the broker's own code: its pino logger (with its redaction paths) writing to /dev/null,
 * and its AuditLog (hash chain; stdout via that logger, or a file, with or without an
 * Ed25519 signature).
 */
export function auditCosts(events = 20_000): EventCost[] {
  const dir = mkdtempSync(join(tmpdir(), 'voidkey-audit-cost-'));
  const devNull = () => pino.destination({ dest: '/dev/null', sync: true });
  const logger = createLogger({ level: 'info', destination: devNull() });
  const plain = pino({ level: 'info', base: { service: 'voidkey-broker' }, timestamp: pino.stdTimeFunctions.isoTime }, devNull());
  const signingKeyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const sample = sampleEvent();
  const time = (what: string, op: (i: number) => void): EventCost => {
    for (let i = 0; i < 2_000; i++) op(i); // warm-up
    const cpu = ownCpuMs();
    for (let i = 0; i < events; i++) op(i);
    return { what, cpuMicrosPerEvent: ((ownCpuMs() - cpu) * 1000) / events };
  };
  const logs = [
    new AuditLog({ stdout: true, failClosed: false, logger }),
    new AuditLog({ stdout: false, failClosed: false, logger, file: join(dir, 'plain.jsonl') }),
    new AuditLog({ stdout: false, failClosed: false, logger, file: join(dir, 'signed.jsonl'), signingKeyPem }),
  ];
  try {
    return [
      time('request log line (logger.info, 5 fields)', (i) => logger.info({ requestId: sample.requestId, method: 'POST', route: '/credentials/mint', status: 200, ms: i & 7 }, 'request')),
      time('audit event through the broker logger (with redact paths)', (i) => logger.info({ audit: sample, seq: i, hash: GENESIS_HASH }, 'audit')),
      time('audit event through pino without redact paths', (i) => plain.info({ audit: sample, seq: i, hash: GENESIS_HASH }, 'audit')),
      time('hash-chain link (canonical JSON + SHA-256)', (i) => recordHash(i, GENESIS_HASH, sample)),
      time('AuditLog.write to stdout (chain + log line)', () => logs[0]!.write(sample)),
      time('AuditLog.write to a file (chain + writeSync)', () => logs[1]!.write(sample)),
      time('AuditLog.write to a file, Ed25519-signed', () => logs[2]!.write(sample)),
    ];
  } finally {
    for (const log of logs) log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
