import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { GENESIS_HASH, recordHash, type AuditEvent, type AuditRecord } from '../broker-core';
import { AuditUnavailable } from '../broker-core';
import { fixedFieldsLogger, flushOutput, outputBroken, type Logger } from './logger';

export interface AuditLogOptions {
  readonly stdout: boolean;
  readonly file?: string;
  readonly failClosed: boolean;
  readonly signingKeyPem?: string;
  readonly logger: Logger;
  readonly onWriteFailure?: (sink: 'stdout' | 'file') => void;
}

/**
 * The audit trail: one hash-chained (and, with a key, Ed25519-signed) record per
 * request, to stdout as a JSON log line and/or appended to a file. The file is written
 * synchronously so that a record is on disk before the credentials leave; with
 * `failClosed`, a record that no sink could write fails the request (503).
 */
export class AuditLog {
  private seq = 0;
  private prevHash = GENESIS_HASH;
  private fd?: number;
  private readonly key?: KeyObject;

  /** Audit records are not log lines: no log level may filter them out. */
  private readonly stdoutSink: Logger;

  constructor(private readonly options: AuditLogOptions) {
    this.stdoutSink = fixedFieldsLogger(options.logger, 'info');
    if (options.signingKeyPem) {
      this.key = createPrivateKey(options.signingKeyPem);
      if (this.key.asymmetricKeyType !== 'ed25519') throw new Error('the audit signing key must be an Ed25519 private key (PEM)');
    }
    if (options.file) {
      this.resumeChain(options.file);
      this.fd = openSync(options.file, 'a', 0o600);
    }
  }

  /** The sink given to the Broker. Throws AuditUnavailable when failing closed. */
  readonly write = (event: AuditEvent): void => {
    const seq = this.seq;
    const hash = recordHash(seq, this.prevHash, event);
    const record: AuditRecord = {
      seq,
      prevHash: this.prevHash,
      hash,
      ...(this.key ? { sig: sign(null, Buffer.from(hash), this.key).toString('base64') } : {}),
      event,
    };
    let written = 0;
    let attempted = 0;
    if (this.fd !== undefined) {
      attempted++;
      try {
        writeSync(this.fd, `${JSON.stringify(record)}\n`);
        written++;
      } catch (err) {
        this.options.onWriteFailure?.('file');
        this.options.logger.error({ errCode: (err as NodeJS.ErrnoException).code, requestId: event.requestId }, 'audit file write failed');
      }
    }
    if (this.options.stdout) {
      attempted++;
      try {
        this.stdoutSink.info({ audit: event, seq, hash }, 'audit');
        flushOutput(this.options.logger);
        if (outputBroken(this.options.logger)) throw new Error('standard output has no reader');
        written++;
      } catch {
        this.options.onWriteFailure?.('stdout');
      }
    }
    this.seq = seq + 1;
    this.prevHash = hash;
    if (this.options.failClosed && attempted > 0 && written === 0) {
      throw new AuditUnavailable('the audit trail cannot be written, so nothing is issued', { retryAfterSeconds: 30 });
    }
  };

  /**
   * Whether some sink can still take records: false only when standard output is the one
   * sink left and it has failed for good (a file is retried with every record).
   */
  get writable(): boolean {
    return this.fd !== undefined || (this.options.stdout && !outputBroken(this.options.logger));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Continues the chain of an existing file after a restart (reads only its tail). */
  private resumeChain(file: string): void {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size === 0) return;
    const length = Math.min(size, 1024 * 1024);
    const buffer = Buffer.alloc(length);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, buffer, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    const last = buffer.toString('utf8').trimEnd().split('\n').pop();
    try {
      const record = JSON.parse(last ?? '') as AuditRecord;
      if (typeof record.seq !== 'number' || typeof record.hash !== 'string') throw new Error('not a record');
      this.seq = record.seq + 1;
      this.prevHash = record.hash;
    } catch {
      throw new Error(`the audit file ${file} ends with a line that is not an audit record; refusing to extend a damaged chain`);
    }
  }
}
