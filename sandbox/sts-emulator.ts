import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { FaultQueue, type FaultTimes } from './fault-queue';
import { BodyTooLarge, listenOnLoopback, readBody } from './loopback-server';
import { runAwsAction } from './sts-aws';
import type { IssuedCredentials, StsCall, StsOutcome, StsParams, StsSettings } from './sts-common';
import { runMinioAction } from './sts-minio';
import { createTokenChecker, type StsTrust } from './sts-token-check';
import { StsError, awsRequestId, errorStatus, errorXml, minioRequestId, resultXml, type StsFlavor } from './sts-wire';

export type { IssuedCredentials, StsParams } from './sts-common';
export type { StsTrust } from './sts-token-check';
export { STS_ERROR_STATUS, type StsFlavor } from './sts-wire';

export interface StsEmulatorOptions {
  /** Default `aws`. */
  readonly flavor?: StsFlavor;
  /** Verify web identity tokens for real against this issuer; without it any unexpired JWT is accepted. */
  readonly trust?: StsTrust;
  /** AWS: the role's MaxSessionDuration; default 3600, as for a role created without one. */
  readonly maxSessionDuration?: number;
  /** AWS: packed size (deflated bytes of session policies and tags) that counts as 100 %; default 1024. */
  readonly packedPolicyLimitBytes?: number;
  /** MinIO: a role-policy OpenID provider with this RoleArn; without it, a claim-based provider. */
  readonly minioRoleArn?: string;
  /** MinIO: the claim a claim-based provider reads policies from; default `policy`. */
  readonly minioPolicyClaim?: string;
  /** At most this many requests and credentials are kept (the oldest tenth is dropped when full); default 10 000. */
  readonly recordLimit?: number;
}

export interface StsRequestRecord {
  readonly action: string;
  readonly params: StsParams;
  readonly headers: IncomingHttpHeaders;
  readonly url: string;
  readonly method: string;
  readonly body: string;
  /** An `Authorization: AWS4-HMAC-SHA256 …` header was present (the signature is not checked). */
  readonly signed: boolean;
}

export interface StsErrorFault {
  readonly code: string;
  readonly message?: string;
  /** Default: the code's documented status. */
  readonly status?: number;
}

export interface StsRawResponse {
  readonly status?: number;
  readonly body: string;
  readonly contentType?: string;
}

export type StsFault =
  | { readonly kind: 'error'; readonly error: StsErrorFault }
  | { readonly kind: 'hang' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'raw'; readonly response: StsRawResponse }
  | { readonly kind: 'flood'; readonly bytes: number }
  | { readonly kind: 'stall' };

export interface StsEmulator {
  /** The endpoint, `http://127.0.0.1:PORT`: give it to the SDK as `endpoint`. */
  readonly url: string;
  readonly flavor: StsFlavor;
  /** Requests received, in order, faulted ones included. */
  readonly requests: readonly StsRequestRecord[];
  /** Credentials handed out, in order. */
  readonly issued: readonly IssuedCredentials[];
  /** Requests received since start or `reset()`. */
  readonly calls: number;
  /** Forgets requests, issued credentials and pending faults. */
  reset(): void;
  failNext(times: FaultTimes, error: StsErrorFault): void;
  /** The next requests get no answer until `close()`. */
  hangNext(times?: FaultTimes): void;
  /** The next requests are answered normally after `ms`. */
  delayNext(times: FaultTimes, ms: number): void;
  /** The next requests get this body verbatim (garbage, HTML, truncated XML …). */
  respondNext(times: FaultTimes, response: StsRawResponse): void;
  /**
   * The next requests get a 200 whose body starts like a real answer and goes on for
   * `bytes` bytes, chunked (no Content-Length), written only as fast as the client reads.
   */
  floodNext(times: FaultTimes, bytes: number): void;
  /** Bytes of flood bodies actually written to sockets (what the client had to read). */
  readonly floodBytesWritten: number;
  /** The next requests get the headers and half of a real answer, then nothing until `close()`. */
  stallNext(times?: FaultTimes): void;
  clearFaults(): void;
  /** Stops the server and destroys every connection, hanging ones included. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;

/** An AWS or MinIO STS on loopback, speaking the Query protocol the real SDK uses. */
export async function startStsEmulator(options: StsEmulatorOptions = {}): Promise<StsEmulator> {
  const flavor = options.flavor ?? 'aws';
  const settings: StsSettings = {
    flavor,
    checkToken: createTokenChecker(options.trust),
    condition: options.trust?.condition,
    maxSessionDuration: options.maxSessionDuration ?? 3600,
    packedPolicyLimitBytes: options.packedPolicyLimitBytes ?? 1024,
    minioRoleArn: options.minioRoleArn,
    minioPolicyClaim: options.minioPolicyClaim ?? 'policy',
    minioSigningSecret: randomBytes(32).toString('hex'),
  };
  const recordLimit = options.recordLimit ?? 10_000;
  const requests: StsRequestRecord[] = [];
  const issued: IssuedCredentials[] = [];
  const faults = new FaultQueue<StsFault>();
  let calls = 0;
  let floodBytesWritten = 0;
  const run = flavor === 'minio' ? runMinioAction : runAwsAction;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    calls += 1;
    const requestId = flavor === 'minio' ? minioRequestId() : awsRequestId();
    let body: string;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLarge) sendError(res, flavor, requestId, new StsError(flavor === 'minio' ? 'InvalidParameterValue' : 'ValidationError', 'Request body too large'));
      else res.destroy();
      return;
    }
    const params = parseParams(req.url ?? '/', body);
    const call: StsCall = { action: params.Action ?? '', params, headers: req.headers };
    record(requests, recordLimit, {
      action: call.action,
      params,
      headers: req.headers,
      url: req.url ?? '/',
      method: req.method ?? 'GET',
      body,
      signed: req.headers.authorization?.startsWith('AWS4-HMAC-SHA256 ') === true,
    });

    const fault = faults.take();
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    if (fault?.kind === 'flood') {
      floodBytesWritten += await flood(res, call.action, fault.bytes, requestId);
      return;
    }
    if (fault?.kind === 'raw') {
      send(res, fault.response.status ?? 200, fault.response.contentType ?? 'text/xml', fault.response.body, flavor, requestId);
      return;
    }
    if (fault?.kind === 'error') {
      const { code, message = `injected ${code}`, status } = fault.error;
      sendError(res, flavor, requestId, new StsError(code, message, status));
      return;
    }

    let outcome: StsOutcome;
    try {
      outcome = await run(settings, call);
    } catch (error) {
      if (!(error instanceof StsError)) throw error;
      sendError(res, flavor, requestId, error);
      return;
    }
    record(issued, recordLimit, outcome.issued);
    if (fault?.kind === 'stall') {
      const body = resultXml(call.action, outcome.result, requestId);
      res.writeHead(200, { 'content-type': contentType(flavor), 'content-length': Buffer.byteLength(body) });
      res.write(body.slice(0, Math.floor(body.length / 2)));
      return;
    }
    send(res, 200, contentType(flavor), resultXml(call.action, outcome.result, requestId), flavor, requestId);
  };

  const loopback = await listenOnLoopback((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const code = flavor === 'minio' ? 'InternalError' : 'InternalFailure';
      if (!res.headersSent) sendError(res, flavor, 'internal', new StsError(code, error instanceof Error ? error.message : String(error)));
    });
  });

  return {
    url: loopback.url,
    flavor,
    requests,
    issued,
    get calls() {
      return calls;
    },
    get floodBytesWritten() {
      return floodBytesWritten;
    },
    reset() {
      requests.length = 0;
      issued.length = 0;
      calls = 0;
      faults.clear();
    },
    failNext(times, error) {
      faults.add({ kind: 'error', error }, times);
    },
    hangNext(times = 1) {
      faults.add({ kind: 'hang' }, times);
    },
    delayNext(times, ms) {
      faults.add({ kind: 'delay', ms }, times);
    },
    respondNext(times, response) {
      faults.add({ kind: 'raw', response }, times);
    },
    floodNext(times, bytes) {
      faults.add({ kind: 'flood', bytes }, times);
    },
    stallNext(times = 1) {
      faults.add({ kind: 'stall' }, times);
    },
    clearFaults() {
      faults.clear();
    },
    close: () => loopback.close(),
  };
}

/** Writes a huge answer with backpressure; resolves with the bytes written once done or cut off. */
function flood(res: ServerResponse, action: string, bytes: number, requestId: string): Promise<number> {
  res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
  const head = `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${action}Result><Credentials><SessionToken>`;
  const chunk = Buffer.alloc(64 * 1024, 'A');
  let written = 0;
  return new Promise((resolve) => {
    const finish = () => resolve(written);
    res.once('close', finish);
    const pump = () => {
      if (written === 0) {
        res.write(head);
        written += head.length;
      }
      while (written < bytes && !res.destroyed) {
        const part = chunk.subarray(0, Math.min(chunk.length, bytes - written));
        written += part.length;
        if (!res.write(part)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  });
}

/** The Query protocol accepts parameters in the form body and in the query string. */
function parseParams(url: string, body: string): StsParams {
  const params: Record<string, string> = {};
  const queryStart = url.indexOf('?');
  if (queryStart >= 0) for (const [name, value] of new URLSearchParams(url.slice(queryStart + 1))) params[name] = value;
  for (const [name, value] of new URLSearchParams(body)) params[name] = value;
  return params;
}

/** Drops the oldest tenth when full, so recording stays O(1) per request under load. */
function record<T>(list: T[], limit: number, item: T): void {
  if (list.length >= limit) list.splice(0, Math.max(1, Math.ceil(limit / 10)));
  list.push(item);
}

function contentType(flavor: StsFlavor): string {
  return flavor === 'minio' ? 'application/xml' : 'text/xml';
}

function sendError(res: ServerResponse, flavor: StsFlavor, requestId: string, error: StsError): void {
  const status = errorStatus(flavor, error.code, error.status);
  send(res, status, contentType(flavor), errorXml(flavor, error.code, error.message, status, requestId), flavor, requestId);
}

function send(res: ServerResponse, status: number, type: string, body: string, flavor: StsFlavor, requestId: string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    [flavor === 'minio' ? 'x-amz-request-id' : 'x-amzn-requestid']: requestId,
  });
  res.end(body);
}
