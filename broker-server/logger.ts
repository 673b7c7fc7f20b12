import pino, { type Logger } from 'pino';

/**
 * Structured logs. Tokens, Authorization headers and credential values are never
 * passed to the logger in the first place; redaction is the second line of defence.
 */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
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
    options.destination,
  );
}

export type { Logger };
