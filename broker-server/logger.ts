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
 */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: true });
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { service: 'voidkey-broker' },
      timestamp: pino.stdTimeFunctions.isoTime,
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
  const state = { broken: false };
  outputs.set(logger, state);
  const stream = destination as unknown as Partial<NodeJS.EventEmitter & Record<'write' | 'flush' | 'flushSync' | 'end', unknown>>;
  if (typeof stream.on === 'function') {
    stream.on('error', () => {
      state.broken = true;
      stream.write = () => true;
      stream.flush = stream.flushSync = stream.end = () => undefined;
    });
  }
  return logger;
}

const outputs = new WeakMap<Logger, { broken: boolean }>();

/** Whether the logger's output has stopped taking lines (its reader went away). */
export function outputBroken(logger: Logger): boolean {
  return outputs.get(logger)?.broken ?? false;
}

export type { Logger };
