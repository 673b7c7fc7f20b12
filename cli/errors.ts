import { EXIT_LABELS, ExitCode, exitCodeForBrokerError } from './exit-codes';
import { printable } from './printable';

/**
 * Every failure the CLI reports on purpose. `message` is safe to print: it never holds
 * a token or a credential. `debugDetail` is printed only with --debug.
 *
 * A message is one line, or a list of lines: a value quoted in it (a file name, an
 * issuer, the broker's words) cannot break it, as describe() shows control characters
 * escaped (cli/printable.ts).
 */
export class CliError extends Error {
  readonly lines: readonly string[];

  constructor(
    readonly exitCode: ExitCode,
    message: string | readonly string[],
    readonly debugDetail?: string,
    options?: { cause?: unknown },
  ) {
    const lines = typeof message === 'string' ? [message] : message;
    super(lines.join('\n'), options);
    this.lines = lines;
    this.name = new.target.name;
  }

  /** The one line (or few) printed to stderr. */
  describe(): string {
    return [`voidkey: ${EXIT_LABELS[this.exitCode]}: ${printable(this.lines[0] ?? '')}`, ...this.lines.slice(1).map(printable)].join('\n');
  }
}

/** Bad flags, a missing broker URL, a format that cannot express the minted keys. */
export class UsageError extends CliError {
  constructor(message: string | readonly string[], debugDetail?: string) {
    super(ExitCode.Usage, message, debugDetail);
  }
}

/** No token could be found or obtained locally. */
export class TokenError extends CliError {
  constructor(message: string | readonly string[], debugDetail?: string, options?: { cause?: unknown }) {
    super(ExitCode.Token, message, debugDetail, options);
  }
}

/** No answer from the broker: connection refused, DNS, TLS, timeout. */
export class BrokerUnreachable extends CliError {
  constructor(message: string, debugDetail?: string, options?: { cause?: unknown }) {
    super(ExitCode.Unavailable, message, debugDetail, options);
  }
}

/** The broker answered something this CLI cannot use (not JSON, wrong shape). */
export class UnexpectedResponse extends CliError {
  constructor(message: string, debugDetail?: string) {
    super(ExitCode.Internal, message, debugDetail);
  }
}

export interface KeyFailure {
  readonly error: string;
  readonly message: string;
}

/** The broker's JSON error body, as documented in DESIGN.md's HTTP API. */
export interface BrokerErrorBody {
  readonly error?: string;
  readonly code?: string;
  readonly message?: string;
  readonly requestId?: string;
  readonly keys?: Readonly<Record<string, KeyFailure>>;
}

/** The broker answered with an error status. */
export class BrokerRefused extends CliError {
  readonly reason: string;
  readonly requestId?: string;

  constructor(
    readonly status: number,
    readonly body: BrokerErrorBody,
    requestIdHeader?: string,
    /** The Retry-After header, when the broker asked for a pause (503, 429). */
    readonly retryAfter?: string,
  ) {
    const reason = typeof body.error === 'string' && body.error !== '' ? body.error : `http_${status}`;
    const message = typeof body.message === 'string' && body.message !== '' ? body.message : `the broker answered HTTP ${status}`;
    super(
      exitCodeForBrokerError(typeof body.code === 'string' ? body.code : undefined, status),
      message,
      `HTTP ${status}${typeof body.code === 'string' ? `, code ${body.code}` : ''}`,
    );
    this.reason = reason;
    this.requestId = typeof body.requestId === 'string' ? body.requestId : requestIdHeader;
  }

  override describe(): string {
    const retry = this.retryAfter && /^[1-9]\d*$/.test(this.retryAfter) ? ` (retry after ${this.retryAfter} s)` : '';
    // Every value here is the broker's: each line is made printable whole.
    const lines = [`voidkey: ${EXIT_LABELS[this.exitCode]} (${this.reason}): ${this.message}${this.requestId ? ` [request id: ${this.requestId}]` : ''}${retry}`];
    const keys = this.body.keys;
    if (keys !== null && typeof keys === 'object') {
      for (const [key, failure] of Object.entries(keys)) {
        if (failure === null || typeof failure !== 'object') continue;
        lines.push(`  ${key}: ${String(failure.error)}: ${String(failure.message)}`);
      }
    }
    return lines.map(printable).join('\n');
  }
}
