/**
 * The only way broker-core reaches the network: the server injects an implementation
 * (keep-alive, timeouts, size cap, no redirects) and tests may inject their own.
 */
export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
  /** Responses larger than this fail with HttpError('too_large'). */
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
}

export type HttpFailure = 'timeout' | 'network' | 'too_large' | 'aborted';

export class HttpError extends Error {
  constructor(
    readonly failure: HttpFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpError';
  }
}

export interface HttpClient {
  request(request: HttpRequest): Promise<HttpResponse>;
}
