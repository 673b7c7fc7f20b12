import pino from 'pino';
import { createLambdaHandler } from './lambda';
import { RuntimeApiClient } from './lambda/runtime-api';
import { runRuntimeLoop } from './lambda/runtime-loop';
import { launch } from './launch';
import { createLogger } from './logger';
import { warmUp } from './snapshot-warm-up';

/**
 * The broker as an AWS Lambda custom runtime (provided.al2023), started from a V8 startup
 * snapshot: scripts/bundle-lambda-snapshot.mjs bundles this file into main.cjs, evaluates
 * it into main.blob, and writes a `bootstrap` that runs
 * `$LAMBDA_TASK_ROOT/node --snapshot-blob main.blob main.cjs` with the node binary that
 * built the blob. Everything below `launch` runs in the function's process: the
 * environment, the config, the clock and randomness are read there.
 */
function start(): void {
  const env = process.env;
  const known = env.LOG_LEVEL === undefined || env.LOG_LEVEL === 'silent' || Object.hasOwn(pino.levels.values, env.LOG_LEVEL);
  // Synchronous stdout, as the handler's own logger: the process is frozen between invocations.
  const logger = createLogger({ level: known ? env.LOG_LEVEL : 'info', destination: pino.destination({ dest: 1, sync: true }) });
  let api: RuntimeApiClient;
  try {
    api = new RuntimeApiClient(env.AWS_LAMBDA_RUNTIME_API ?? '');
  } catch (err) {
    // Without the API there is nobody to report to but the log.
    process.stderr.write(`voidkey-broker: ${(err as Error).message}: this is a Lambda custom runtime (bootstrap); run the server (dist/server) elsewhere\n`);
    process.exit(1);
  }
  runRuntimeLoop({ handler: createLambdaHandler({ env }), api, logger, env }).then(
    () => process.exit(0),
    (err: unknown) => {
      logger.error({ errName: (err as Error)?.name, errMessage: (err as Error)?.name === 'RuntimeApiError' ? (err as Error).message : undefined }, 'lambda runtime: stopping');
      process.exit(1);
    },
  );
}

launch(start, warmUp);
