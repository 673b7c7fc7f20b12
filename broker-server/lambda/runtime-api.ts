import { Agent, request } from 'node:http';

/**
 * A client of the Lambda Runtime API (version 2018-06-01), the HTTP interface a custom
 * runtime's `bootstrap` polls for invocations
 * (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html). AWS's own client
 * (`aws-lambda-ric`) needs a native build, so this is the few calls the broker uses, over
 * node:http with one keep-alive socket. node:http is required when the first call is made,
 * not when the module loads: in a startup snapshot it cannot be loaded at build time.
 */
export interface Invocation {
  readonly requestId: string;
  /** The event's JSON text, not yet parsed: a body that does not parse is the runtime's to report. */
  readonly body: string;
  /** Epoch milliseconds (`Lambda-Runtime-Deadline-Ms`); NaN when absent. */
  readonly deadlineMs: number;
  readonly invokedFunctionArn?: string;
  readonly traceId?: string;
}

/** What `/error` and `/init/error` carry: the type, a message that names no input, no stack. */
export interface RuntimeErrorReport {
  readonly errorType: string;
  readonly errorMessage: string;
}

/** The Runtime API answered something the protocol does not allow, or could not be reached. */
export class RuntimeApiError extends Error {
  override readonly name = 'RuntimeApiError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const PREFIX = '/2018-06-01/runtime';

export class RuntimeApiClient {
  private readonly host: string;
  private readonly port: number;
  private agent: Agent | undefined;

  /** `address` is `AWS_LAMBDA_RUNTIME_API` (`host:port`). */
  constructor(address: string) {
    let url: URL;
    try {
      url = new URL(`http://${address}`);
    } catch {
      throw new RuntimeApiError(`AWS_LAMBDA_RUNTIME_API is not host:port`);
    }
    if (!url.hostname || !url.port || url.pathname !== '/' || url.username || url.search) throw new RuntimeApiError(`AWS_LAMBDA_RUNTIME_API is not host:port`);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port);
  }

  /** Waits for the next invocation (a long poll: no timeout). */
  async next(): Promise<Invocation> {
    const answer = await this.call('GET', `${PREFIX}/invocation/next`);
    if (answer.status !== 200) throw new RuntimeApiError(`invocation/next answered ${answer.status}`, answer.status);
    const requestId = header(answer.headers['lambda-runtime-aws-request-id']);
    // The id goes into a URL path: anything but a plain token is a protocol error, not a path to follow.
    if (!requestId || !/^[\w.-]{1,128}$/.test(requestId)) throw new RuntimeApiError('invocation/next gave no usable Lambda-Runtime-Aws-Request-Id');
    const arn = header(answer.headers['lambda-runtime-invoked-function-arn']);
    const trace = header(answer.headers['lambda-runtime-trace-id']);
    return {
      requestId,
      body: answer.body,
      deadlineMs: Number(header(answer.headers['lambda-runtime-deadline-ms']) ?? Number.NaN),
      ...(arn ? { invokedFunctionArn: arn } : {}),
      ...(trace ? { traceId: trace } : {}),
    };
  }

  /** Posts the handler's result; resolves with the API's status (202 accepted, 413 too large, …). */
  async respond(requestId: string, result: string): Promise<number> {
    return (await this.call('POST', `${PREFIX}/invocation/${requestId}/response`, result)).status;
  }

  async invocationError(requestId: string, report: RuntimeErrorReport): Promise<number> {
    return (await this.call('POST', `${PREFIX}/invocation/${requestId}/error`, errorBody(report), report.errorType)).status;
  }

  async initError(report: RuntimeErrorReport): Promise<number> {
    return (await this.call('POST', `${PREFIX}/init/error`, errorBody(report), report.errorType)).status;
  }

  close(): void {
    this.agent?.destroy();
  }

  private call(method: 'GET' | 'POST', path: string, body?: string, errorType?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
    this.agent ??= new Agent({ keepAlive: true, maxSockets: 1 });
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    if (errorType) headers['lambda-runtime-function-error-type'] = errorType;
    return new Promise((resolve, reject) => {
      const req = request({ host: this.host, port: this.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => reject(new RuntimeApiError(`${method} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'response failed'}`)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', (err) => reject(new RuntimeApiError(`${method} ${path.replace(/invocation\/[^/]+\//, 'invocation/{id}/')}: ${(err as NodeJS.ErrnoException).code ?? 'request failed'}`)));
      req.end(body);
    });
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function errorBody(report: RuntimeErrorReport): string {
  return JSON.stringify({ errorType: report.errorType, errorMessage: report.errorMessage, stackTrace: [] });
}
