import type { Context } from 'aws-lambda';
import type { ApiGatewayEvent } from './event-to-request';
import type { Invocation, RuntimeApiClient } from './runtime-api';
import type { LambdaHandler } from '../lambda';
import type { Logger } from '../logger';

export interface RuntimeLoopOptions {
  readonly handler: LambdaHandler;
  readonly api: RuntimeApiClient;
  readonly logger: Logger;
  /** Default `process.env`: the function's name, version, memory and log names, and `_X_AMZN_TRACE_ID`, set per invocation. */
  readonly env?: NodeJS.ProcessEnv;
  /** Stops after this many invocations (tests); default: forever, as Lambda runs a runtime. */
  readonly invocations?: number;
}

/**
 * A custom runtime's main loop (provided.al2023, `bootstrap`): build the broker once (the
 * init phase), then take one invocation at a time from the Runtime API, hand it to the
 * same `createLambdaHandler` the managed nodejs runtime calls, and post its result. What
 * the broker answers is the handler's: a bad config is 503 `config_invalid` per request, as
 * there. Reported to the API as errors: an init that throws (`/init/error`, then exit), an
 * event that is not JSON and a handler that throws (`/invocation/{id}/error`). Those reports
 * carry a type and a fixed message, never the event, the error's message or a stack (they
 * can hold a token); the log names the error's class and code with the request id.
 * A Runtime API that cannot be reached or breaks the protocol ends the process (exit 1):
 * Lambda then starts a new one.
 */
export async function runRuntimeLoop(options: RuntimeLoopOptions): Promise<void> {
  const { handler, api, logger } = options;
  const env = options.env ?? process.env;
  try {
    await handler.warm();
  } catch (err) {
    logger.error({ errName: errorName(err), errCode: errorCode(err) }, 'lambda runtime: the broker failed to initialise');
    await api.initError({ errorType: 'Runtime.InitError', errorMessage: 'the broker failed to initialise; the function log names the error' });
    throw err;
  }
  for (let served = 0; options.invocations === undefined || served < options.invocations; served++) {
    const invocation = await api.next();
    await invoke(invocation, options, env);
  }
}

async function invoke(invocation: Invocation, { handler, api, logger }: RuntimeLoopOptions, env: NodeJS.ProcessEnv): Promise<void> {
  const { requestId } = invocation;
  // As the managed runtime does: the X-Ray trace header of this invocation, for SDKs that read it.
  if (invocation.traceId) env._X_AMZN_TRACE_ID = invocation.traceId;
  else delete env._X_AMZN_TRACE_ID;
  let event: ApiGatewayEvent;
  try {
    event = JSON.parse(invocation.body) as ApiGatewayEvent;
  } catch {
    logger.warn({ requestId, eventBytes: Buffer.byteLength(invocation.body) }, 'lambda runtime: the invocation event is not JSON');
    await report(api.invocationError(requestId, { errorType: 'Runtime.MalformedEvent', errorMessage: 'the invocation event is not JSON' }), logger, requestId);
    return;
  }
  let body: string;
  try {
    const result = await handler(event, context(invocation, env));
    body = JSON.stringify(result);
  } catch (err) {
    const name = errorName(err);
    logger.error({ requestId, errName: name, errCode: errorCode(err) }, 'lambda runtime: the handler failed');
    await report(api.invocationError(requestId, { errorType: name, errorMessage: `the handler failed (${name}); the function log has the request id` }), logger, requestId);
    return;
  }
  await report(api.respond(requestId, body), logger, requestId);
}

/** A refused post (413: the result is over Lambda's payload limit) ends that invocation, not the runtime. */
async function report(posted: Promise<number>, logger: Logger, requestId: string): Promise<void> {
  const status = await posted;
  if (status !== 202) logger.error({ requestId, status }, 'lambda runtime: the Runtime API refused the answer');
}

function context(invocation: Invocation, env: NodeJS.ProcessEnv): Partial<Context> {
  return {
    awsRequestId: invocation.requestId,
    ...(invocation.invokedFunctionArn ? { invokedFunctionArn: invocation.invokedFunctionArn } : {}),
    ...(env.AWS_LAMBDA_FUNCTION_NAME ? { functionName: env.AWS_LAMBDA_FUNCTION_NAME } : {}),
    ...(env.AWS_LAMBDA_FUNCTION_VERSION ? { functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION } : {}),
    ...(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ? { memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE } : {}),
    ...(env.AWS_LAMBDA_LOG_GROUP_NAME ? { logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME } : {}),
    ...(env.AWS_LAMBDA_LOG_STREAM_NAME ? { logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME } : {}),
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => (Number.isFinite(invocation.deadlineMs) ? Math.max(0, invocation.deadlineMs - Date.now()) : 0),
  };
}

/** An error's class name when it is a plain identifier (it becomes a header), else `Error`. */
function errorName(err: unknown): string {
  const name = (err as Error | undefined)?.name;
  return typeof name === 'string' && /^[A-Za-z_$][\w$.]{0,63}$/.test(name) ? name : 'Error';
}

function errorCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : undefined;
}
