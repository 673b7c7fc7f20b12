import pino, { type Logger } from 'pino';

/**
 * Structured logs. Tokens, Authorization headers and credential values are never
 * passed to the logger in the first place; redaction is the second line of defence.
 *
 * Standard output is written synchronously: an audit record is out of the process before
 * the credentials it records are answered, no write goes through libuv's thread pool, and
 * nothing is left to flush at exit. (pino's default asynchronous stream flushes at exit
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
  // pino stops writing to a stream whose reader is gone (EPIPE) and says nothing more; any
  // other write error would have crashed the process. Either way lines may be lost: the
  // audit trail needs to know, to count its records as failed writes and to fail closed.
  const state = { broken: false };
  outputs.set(logger, state);
  if (typeof (destination as Partial<NodeJS.EventEmitter>).on === 'function') {
    (destination as unknown as NodeJS.EventEmitter).on('error', () => {
      state.broken = true;
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
