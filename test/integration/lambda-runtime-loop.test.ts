import { Writable } from 'node:stream';
import type { LambdaHandler, LambdaResult } from '../../broker-server/lambda';
import { RuntimeApiClient, RuntimeApiError } from '../../broker-server/lambda/runtime-api';
import { runRuntimeLoop } from '../../broker-server/lambda/runtime-loop';
import { createLogger } from '../../broker-server/logger';
import { startLambdaRuntimeEmulator, type LambdaRuntimeEmulator } from '../../sandbox/lambda-runtime-emulator';

/**
 * The custom runtime's loop (broker-server/lambda/runtime-loop.ts) and its Runtime API
 * client against the sandbox's Runtime API emulator, with handlers that fail in the ways
 * the real one cannot be made to (its init never throws: a bad config is answered 503).
 * test/e2e/lambda-snapshot.e2e.test.ts runs the real bootstrap.
 */
const SECRET = 'canary-secret-3f9a1c7e5b';
const OK: LambdaResult = { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"status":"ok"}', isBase64Encoded: false };

function handlerOf(answer: (event: unknown) => Promise<LambdaResult>, warm: () => Promise<void> = async () => {}): LambdaHandler & { events: unknown[]; contexts: unknown[] } {
  const events: unknown[] = [];
  const contexts: unknown[] = [];
  const handler = async (event: unknown, context: unknown) => {
    events.push(event);
    contexts.push(context);
    return answer(event);
  };
  return Object.assign(handler, { warm, close: async () => {}, events, contexts }) as unknown as LambdaHandler & { events: unknown[]; contexts: unknown[] };
}

function logSink(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination: stream, turnBuffered: false }), text: () => text };
}

describe('the Lambda custom runtime loop against the Runtime API emulator', () => {
  let emulator: LambdaRuntimeEmulator;
  let api: RuntimeApiClient;
  beforeEach(async () => {
    emulator = await startLambdaRuntimeEmulator();
    api = new RuntimeApiClient(emulator.address);
  });
  afterEach(async () => {
    api.close();
    await emulator.close();
  });

  it('answers each invocation with the handler result; the context carries the request id, ARN, deadline; _X_AMZN_TRACE_ID follows each invocation', async () => {
    const handler = handlerOf(async () => OK);
    const env: NodeJS.ProcessEnv = { AWS_LAMBDA_FUNCTION_NAME: 'voidkey-broker' };
    const seenTraces: Array<string | undefined> = [];
    const traced = handlerOf(async (event) => {
      seenTraces.push(env._X_AMZN_TRACE_ID);
      return handler(event as never);
    });
    const { logger } = logSink();
    const loop = runRuntimeLoop({ handler: traced, api, logger, env, invocations: 2 });
    const [first, second] = await Promise.all([
      emulator.invoke({ event: { n: 1 }, requestId: 'req-0001', traceId: 'Root=1-aaaa-1;Sampled=0' }),
      emulator.invoke({ event: { n: 2 }, requestId: 'req-0002', traceId: 'Root=1-bbbb-2;Sampled=0' }),
    ]);
    await loop;
    expect([first, second]).toEqual([
      { kind: 'response', requestId: 'req-0001', body: JSON.stringify(OK), contentType: 'application/json' },
      { kind: 'response', requestId: 'req-0002', body: JSON.stringify(OK), contentType: 'application/json' },
    ]);
    expect(traced.events).toEqual([{ n: 1 }, { n: 2 }]);
    expect(seenTraces).toEqual(['Root=1-aaaa-1;Sampled=0', 'Root=1-bbbb-2;Sampled=0']);
    const context = traced.contexts[0] as { awsRequestId: string; invokedFunctionArn: string; functionName: string; getRemainingTimeInMillis: () => number };
    expect(context).toMatchObject({ awsRequestId: 'req-0001', invokedFunctionArn: emulator.functionArn, functionName: 'voidkey-broker' });
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    // One keep-alive connection: two /next, two /response, in order.
    expect(emulator.received.map((request) => `${request.method} ${request.path.replace(/req-000\d/, 'ID')}`)).toEqual([
      'GET /2018-06-01/runtime/invocation/next',
      'POST /2018-06-01/runtime/invocation/ID/response',
      'GET /2018-06-01/runtime/invocation/next',
      'POST /2018-06-01/runtime/invocation/ID/response',
    ]);
  });

  it('a handler that throws: /error with its class as errorType and a fixed message, no secret in the report or the log; the next invocation is served', async () => {
    const handler = handlerOf(async (event) => {
      if ((event as { fail?: boolean }).fail) throw new TypeError(`bad value ${SECRET}`);
      return OK;
    });
    const log = logSink();
    const loop = runRuntimeLoop({ handler, api, logger: log.logger, env: {}, invocations: 3 });
    // Positive control on the same loop: an event the handler takes is answered.
    const control = await emulator.invoke({ event: { fail: false } });
    expect(control.kind).toBe('response');
    const failed = await emulator.invoke({ event: { fail: true, token: SECRET } });
    const after = await emulator.invoke({ event: { fail: false } });
    await loop;
    expect(failed).toMatchObject({ kind: 'error', errorType: 'TypeError' });
    expect(JSON.parse((failed as { body: string }).body)).toEqual({ errorType: 'TypeError', errorMessage: 'the handler failed (TypeError); the function log has the request id', stackTrace: [] });
    expect(after.kind).toBe('response');
    expect(log.text()).toContain('"errName":"TypeError"');
    expect(log.text()).toContain(failed.requestId);
    for (const text of [log.text(), ...emulator.received.map((request) => request.body).filter((body) => !body.includes('"fail":true'))]) expect(text).not.toContain(SECRET);
  });

  it('an event that is not JSON: /error Runtime.MalformedEvent, naming none of it; then the loop goes on', async () => {
    const handler = handlerOf(async () => OK);
    const log = logSink();
    const loop = runRuntimeLoop({ handler, api, logger: log.logger, env: {}, invocations: 2 });
    const malformed = await emulator.invoke({ raw: `{"oidcToken":"${SECRET}` });
    const next = await emulator.invoke({ event: {} });
    await loop;
    expect(malformed).toMatchObject({ kind: 'error', errorType: 'Runtime.MalformedEvent' });
    expect(JSON.parse((malformed as { body: string }).body)).toEqual({ errorType: 'Runtime.MalformedEvent', errorMessage: 'the invocation event is not JSON', stackTrace: [] });
    expect(next.kind).toBe('response');
    expect(handler.events).toEqual([{}]);
    expect(log.text()).not.toContain(SECRET);
  });

  it('an init that fails: /init/error Runtime.InitError, no invocation is taken, the loop rejects (the process exits)', async () => {
    // Positive control: the same loop with a warm() that resolves takes an invocation.
    const fine = runRuntimeLoop({ handler: handlerOf(async () => OK), api, logger: logSink().logger, env: {}, invocations: 1 });
    expect((await emulator.invoke({ event: {} })).kind).toBe('response');
    await fine;
    const before = emulator.received.length;

    const log = logSink();
    const broken = handlerOf(
      async () => OK,
      async () => {
        throw new Error(`cannot start ${SECRET}`);
      },
    );
    await expect(runRuntimeLoop({ handler: broken, api, logger: log.logger, env: {} })).rejects.toThrow(SECRET);
    const report = await emulator.initError();
    expect(report.errorType).toBe('Runtime.InitError');
    expect(JSON.parse(report.body)).toEqual({ errorType: 'Runtime.InitError', errorMessage: 'the broker failed to initialise; the function log names the error', stackTrace: [] });
    expect(emulator.received.slice(before).map((request) => request.path)).toEqual(['/2018-06-01/runtime/init/error']);
    expect(log.text()).not.toContain(SECRET);
  });

  it('a result over the payload limit is refused (413) and logged; the loop serves the next invocation', async () => {
    const handler = handlerOf(async (event) => ((event as { big?: boolean }).big ? { ...OK, body: 'x'.repeat(7 * 1024 * 1024) } : OK));
    const log = logSink();
    const loop = runRuntimeLoop({ handler, api, logger: log.logger, env: {}, invocations: 2 });
    const big = await emulator.invoke({ event: { big: true } });
    const small = await emulator.invoke({ event: {} });
    await loop;
    expect(big).toMatchObject({ kind: 'error', errorType: 'Function.ResponseSizeTooLarge' });
    expect(small.kind).toBe('response');
    expect(log.text()).toMatch(/"status":413.*the Runtime API refused the answer/);
  });

  it('an answer after the deadline settles as a timeout at the emulator and is refused when it arrives', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const handler = handlerOf(async () => {
      await held;
      return OK;
    });
    const log = logSink();
    const loop = runRuntimeLoop({ handler, api, logger: log.logger, env: {}, invocations: 1 });
    const outcome = await emulator.invoke({ event: {}, timeoutMs: 50 });
    expect(outcome.kind).toBe('timeout');
    release();
    await loop;
    expect(log.text()).toMatch(/"status":400.*the Runtime API refused the answer/);
  });

  it('an invocation id that is not a plain token is a protocol error: nothing is posted to a path built from it, the loop rejects', async () => {
    // Positive control: a plain id is answered at its own path.
    const control = runRuntimeLoop({ handler: handlerOf(async () => OK), api, logger: logSink().logger, env: {}, invocations: 1 });
    expect(await emulator.invoke({ event: {}, requestId: 'abc-123.def_4' })).toMatchObject({ kind: 'response', requestId: 'abc-123.def_4' });
    await control;
    const before = emulator.received.length;
    const handler = handlerOf(async () => OK);
    const loop = runRuntimeLoop({ handler, api, logger: logSink().logger, env: {} });
    const outcome = emulator.invoke({ event: {}, requestId: '../../init/error', timeoutMs: 200 });
    await expect(loop).rejects.toThrow(/no usable Lambda-Runtime-Aws-Request-Id/);
    expect((await outcome).kind).toBe('timeout');
    expect(handler.events).toEqual([]);
    expect(emulator.received.slice(before).map((request) => `${request.method} ${request.path}`)).toEqual(['GET /2018-06-01/runtime/invocation/next']);
  });

  it('refuses an AWS_LAMBDA_RUNTIME_API that is not host:port, and rejects when the API is gone', async () => {
    // Positive control: the emulator's address is accepted and answers.
    const control = runRuntimeLoop({ handler: handlerOf(async () => OK), api, logger: logSink().logger, env: {}, invocations: 1 });
    expect((await emulator.invoke({ event: {} })).kind).toBe('response');
    await control;
    for (const address of ['', 'localhost', 'http://127.0.0.1:9001', '127.0.0.1:9001/path', 'user@127.0.0.1:9001']) {
      expect(() => new RuntimeApiClient(address)).toThrow(RuntimeApiError);
    }
    const gone = await startLambdaRuntimeEmulator();
    const address = gone.address;
    await gone.close();
    const client = new RuntimeApiClient(address);
    await expect(client.next()).rejects.toThrow(/invocation\/next: ECONNREFUSED/);
    client.close();
  });
});
