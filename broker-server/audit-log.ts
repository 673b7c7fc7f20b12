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
  /**
   * Group commit (the server): the records of one event-loop turn are written together at
   * its end, one write per sink, and each request's answer waits for its record's write.
   * Off (Lambda, tools): each record is written at once.
   */
  readonly groupCommit?: boolean;
}

/** The records taken in this turn and the promise their requests wait on. */
interface Batch {
  records: number;
  fileText: string;
  readonly done: Promise<boolean>;
  readonly settle: (written: boolean) => void;
}

/**
 * The audit trail: one hash-chained (and, with a key, Ed25519-signed) record per
 * request, to stdout as a JSON log line and/or appended to a file. Records are written
 * synchronously, so that a record is out of the process before the credentials it records
 * leave: at once, or with group commit (the server) at the end of the event-loop turn with
 * the turn's other records while their answers wait. With `failClosed`, a record that no
 * sink could write fails the request (503).
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

  private batch?: Batch;

  /**
   * The sink given to the Broker. Without group commit it writes at once and throws
   * AuditUnavailable when failing closed; with it, it returns a promise that settles once
   * the turn's records are written (rejected with AuditUnavailable when failing closed).
   */
  readonly write = (event: AuditEvent): void | Promise<void> => {
    const seq = this.seq;
    const hash = recordHash(seq, this.prevHash, event);
    const record: AuditRecord = {
      seq,
      prevHash: this.prevHash,
      hash,
      ...(this.key ? { sig: sign(null, Buffer.from(hash), this.key).toString('base64') } : {}),
      event,
    };
    this.seq = seq + 1;
    this.prevHash = hash;
    if (this.options.groupCommit) return this.enqueue(record, event);
    let written = 0;
    let attempted = 0;
    if (this.fd !== undefined) {
      attempted++;
      if (this.writeFile(`${JSON.stringify(record)}\n`, event.requestId)) written++;
    }
    if (this.options.stdout) {
      attempted++;
      if (this.writeStdout(event, seq, hash)) written++;
    }
    if (this.options.failClosed && attempted > 0 && written === 0) throw unavailable();
  };

  private enqueue(record: AuditRecord, event: AuditEvent): Promise<void> {
    let batch = this.batch;
    if (batch === undefined) {
      let settle!: (written: boolean) => void;
      const done = new Promise<boolean>((resolve) => (settle = resolve));
      batch = this.batch = { records: 0, fileText: '', done, settle };
      setImmediate(this.commit);
    }
    batch.records++;
    if (this.fd !== undefined) batch.fileText += `${JSON.stringify(record)}\n`;
    // Into the logger's held lines: written by commit() with the turn's other lines.
    if (this.options.stdout) this.stdoutSink.info({ audit: event, seq: record.seq, hash: record.hash }, 'audit');
    return batch.done.then((written) => {
      if (!written) throw unavailable();
    });
  }

  /** Writes the turn's records, one write per sink, and lets their requests answer. */
  private readonly commit = (): void => {
    const batch = this.batch;
    if (batch === undefined) return;
    this.batch = undefined;
    let written = 0;
    let attempted = 0;
    if (this.fd !== undefined) {
      attempted++;
      if (this.writeFile(batch.fileText, undefined, batch.records)) written++;
    }
    if (this.options.stdout) {
      attempted++;
      flushOutput(this.options.logger);
      if (outputBroken(this.options.logger)) {
        for (let i = 0; i < batch.records; i++) this.options.onWriteFailure?.('stdout');
      } else {
        written++;
      }
    }
    batch.settle(!(this.options.failClosed && attempted > 0 && written === 0));
  };

  private writeFile(text: string, requestId: string | undefined, records = 1): boolean {
    try {
      writeSync(this.fd!, text);
      return true;
    } catch (err) {
      for (let i = 0; i < records; i++) this.options.onWriteFailure?.('file');
      this.options.logger.error({ errCode: (err as NodeJS.ErrnoException).code, ...(requestId ? { requestId } : { records }) }, 'audit file write failed');
      return false;
    }
  }

  private writeStdout(event: AuditEvent, seq: number, hash: string): boolean {
    try {
      this.stdoutSink.info({ audit: event, seq, hash }, 'audit');
      flushOutput(this.options.logger);
      if (outputBroken(this.options.logger)) throw new Error('standard output has no reader');
      return true;
    } catch {
      this.options.onWriteFailure?.('stdout');
      return false;
    }
  }

  /**
   * Whether some sink can still take records: false only when standard output is the one
   * sink left and it has failed for good (a file is retried with every record).
   */
  get writable(): boolean {
    return this.fd !== undefined || (this.options.stdout && !outputBroken(this.options.logger));
  }

  close(): void {
    this.commit();
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

function unavailable(): AuditUnavailable {
  return new AuditUnavailable('the audit trail cannot be written, so nothing is issued', { retryAfterSeconds: 30 });
}
