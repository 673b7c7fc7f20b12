import pino, { type Logger } from 'pino';

/**
 * Structured logs. Tokens, Authorization headers and credential values are never
 * passed to the logger in the first place; redaction is the second line of defence.
 *
 * Standard output is written synchronously: an audit record is out of the process before
 * the credentials it records are answered, no write goes through libuv's thread pool, and
 * nothing is left to flush at exit. The price: a reader that stops reading (a full pipe)
 * stalls the whole process until it reads again, as Node's own stdout does for pipes. (pino's default asynchronous stream flushes at exit
 * with a loop that retries a broken pipe forever: a broker whose log reader had gone then
 * never finished shutting down.)
 *
 * With the default destination, log lines are held briefly and written together
 * (`LineBuffer`): with the next audit record, which the audit trail writes at once
 * (`flushOutput`) and which takes the held lines with it, or after 10 ms, or at exit. Under
 * load that is one write per request instead of two (docs/performance.md); lines keep their
 * order, and an audit record is never held.
 */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream; turnBuffered?: boolean } = {}): Logger {
  const sink = options.destination ?? pino.destination({ dest: 1, sync: true });
  const buffer = (options.turnBuffered ?? options.destination === undefined) ? new LineBuffer(sink) : undefined;
  const destination = buffer ?? sink;
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { service: 'voidkey-broker' },
      timestamp: isoTimeOncePerMillisecond,
      redact: {
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          '*.oidcToken',
          'oidcToken',
          '*.token',
          'token',
          '*.credentials',
          'credentials',
          '*.clientSecret',
          'clientSecret',
          '*.SecretAccessKey',
          '*.SessionToken',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
  // pino stops writing to a stream whose reader is gone (EPIPE); any other write error
  // (a full disk, EIO) would have crashed the process, and a stream kept alive after one
  // queues every later line in memory and may write them, audit records of refused
  // requests included, long after. So on any error the output is shut for good, as pino
  // does for EPIPE, and the audit trail is told, to count its records as failed writes,
  // fail closed, and report the broker not ready.
  const state: OutputState = { broken: false, flush: buffer ? buffer.flush : () => undefined };
  outputs.set(logger, state);
  const stream = sink as unknown as Partial<NodeJS.EventEmitter & Record<'write' | 'flush' | 'flushSync' | 'end', unknown>>;
  if (typeof stream.on === 'function') {
    stream.on('error', () => {
      state.broken = true;
      stream.write = () => true;
      stream.flush = stream.flushSync = stream.end = () => undefined;
      buffer?.shut();
    });
  }
  return logger;
}

/**
 * pino's `isoTime` (`,"time":"2026-12-06T08:00:00.000Z"`), formatted once per millisecond:
 * under load several lines share one, and each format is a Date and a toISOString.
 */
let lastMillis = -1;
let lastTime = '';
function isoTimeOncePerMillisecond(): string {
  const now = Date.now();
  if (now !== lastMillis) {
    lastMillis = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

interface OutputState {
  broken: boolean;
  readonly flush: () => void;
}

const outputs = new WeakMap<Logger, OutputState>();

/**
 * Writes the lines the logger holds, now. The audit
 * trail calls it after each record: a record is out of the process before the answer.
 */
export function flushOutput(logger: Logger): void {
  outputs.get(logger)?.flush();
}

/** Lines held at most this long (or until the next audit record) before they are written. */
export const LINE_DELAY_MS = 10;
/** Held lines past this many characters are written at once. */
const MAX_HELD_CHARS = 64 * 1024;

/**
 * Log lines handed to the sink together: with the next audit record (one write per request
 * under load), after LINE_DELAY_MS, past MAX_HELD_CHARS, or at exit.
 */
class LineBuffer implements pino.DestinationStream {
  private pending = '';
  private timer?: NodeJS.Timeout;
  private open = true;

  constructor(private readonly sink: pino.DestinationStream) {
    buffers.add(this);
    hookExit();
  }

  write(line: string): void {
    if (!this.open) return;
    this.pending += line;
    if (this.pending.length > MAX_HELD_CHARS) this.flush();
    else if (this.timer === undefined) this.timer = setTimeout(this.onTimer, LINE_DELAY_MS).unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.flush();
  };

  readonly flush = (): void => {
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.sink.write(text);
  };

  /** The sink failed for good: later lines are dropped, not held in memory. */
  shut(): void {
    this.open = false;
    this.pending = '';
    clearTimeout(this.timer);
    buffers.delete(this);
  }
}

/** A process that exits (a signal handled, a fatal error) writes what its loggers hold. */
const buffers = new Set<LineBuffer>();
let exitHook = false;
function flushAllAtExit(): void {
  for (const buffer of buffers) buffer.flush();
}
function hookExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', flushAllAtExit);
}

/** Whether the logger's output has stopped taking lines (its reader went away). */
export function outputBroken(logger: Logger): boolean {
  return outputs.get(logger)?.broken ?? false;
}

/**
 * A child logger without the redaction pass, for the two lines written on every request
 * whose fields the broker builds itself (the access line; the audit record, which names no
 * token or credential by construction — docs/security.md): redaction clones each logged
 * object and cost ~5 µs of a ~2 µs line. Free-form lines keep it.
 */
export function fixedFieldsLogger(logger: Logger, level?: string): Logger {
  return logger.child({}, { redact: [], ...(level ? { level } : {}) });
}

export type { Logger };
