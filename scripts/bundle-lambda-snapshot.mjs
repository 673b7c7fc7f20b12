/* global process, console, performance */
// Builds the broker as an AWS Lambda custom runtime (provided.al2023) that starts from a
// V8 startup snapshot:
//   node scripts/bundle-lambda-snapshot.mjs [--out DIR] [--config FILE] [--copy-node] [--cold-start N [--managed DIR]]
// (`npm run bundle:lambda-snapshot`; needs `npm run build` first: the smoke test uses the
// sandbox's Runtime API emulator from dist/sandbox.) Output in DIR (default dist/lambda-snapshot;
// deploy the whole folder, e.g. deploy/sam/template-snapshot.yaml):
//   bootstrap     what Lambda runs: exec "$LAMBDA_TASK_ROOT/node" --snapshot-blob main.blob main.cjs
//   node          the Node 24 binary that built main.blob (the repo's node_modules/node): a blob
//                 only runs on the binary that made it, so the package carries its own. A hard
//                 link to node_modules/node/bin/node (a copy where linking fails, or with
//                 --copy-node); zipping the folder (sam deploy) stores it as a file (~120 MB,
//                 within Lambda's 250 MB unzipped limit; about 45 MB zipped).
//   main.cjs      broker-server/lambda-bootstrap.ts as one script (scripts/bundle-snapshot.mjs)
//   main.blob     the heap after main.cjs was evaluated; its main function runs the Runtime
//                 API loop (broker-server/lambda/runtime-loop.ts) around createLambdaHandler
//   vendor/       the cloud SDKs and cedar-wasm, required on first use
//   package.json  the version /health reports
//   config.yaml   with --config (VOIDKEY_CONFIG=/var/task/config.yaml)
// The binary, and so the package, is for this machine's architecture (`process.arch`):
// build on arm64 for an arm64 function. Every build is smoke-tested: the bootstrap, with
// AWS_LAMBDA_RUNTIME_API pointing at the sandbox's emulator, must answer a /health event.
// --cold-start N: N rounds alternating the managed-runtime bundle (scripts/bundle-lambda.mjs,
// built into a temporary folder unless --managed DIR) and this one, each a fresh process
// answering one /health event through the emulator; CPU (user + system, /proc) and wall time
// from spawn to the emulator receiving the answer, medians printed.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: { out: { type: 'string' }, config: { type: 'string' }, 'copy-node': { type: 'boolean' }, 'cold-start': { type: 'string' }, managed: { type: 'string' } },
  strict: true,
});
const outdir = resolve(args.out ?? join(root, 'dist/lambda-snapshot'));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// The node that builds the blob is the node the package ships: the repo's Node 24.
const node = existsSync(join(root, 'node_modules/node/bin/node')) ? join(root, 'node_modules/node/bin/node') : process.execPath;
const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
if (!/^v(2[4-9]|[3-9]\d)\./.test(nodeVersion)) {
  console.error(`bundle-lambda-snapshot: ${node} is ${nodeVersion || 'not runnable'}; the package needs Node 24 (npm ci installs node_modules/node)`);
  process.exit(1);
}

rmSync(outdir, { recursive: true, force: true });
const built = spawnSync(node, [join(root, 'scripts/bundle-snapshot.mjs'), '--entry', 'broker-server/lambda-bootstrap.ts', '--out', outdir], { cwd: root, stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);

const BOOTSTRAP = `#!/bin/sh
# Voidkey broker, AWS Lambda custom runtime (provided.al2023); built by scripts/bundle-lambda-snapshot.mjs.
# The node beside this file built main.blob: the two only work as a pair.
set -eu
root="\${LAMBDA_TASK_ROOT:-$(cd "$(dirname "$0")" && pwd)}"
# As the managed nodejs runtime does: the old generation sized to the function's memory.
heap=""
case "\${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-}" in
  ''|*[!0-9]*) ;;
  *) heap="--max-old-space-size=$((AWS_LAMBDA_FUNCTION_MEMORY_SIZE * 85 / 100))" ;;
esac
exec "$root/node" $heap --snapshot-blob "$root/main.blob" "$root/main.cjs"
`;
writeFileSync(join(outdir, 'bootstrap'), BOOTSTRAP);
chmodSync(join(outdir, 'bootstrap'), 0o755);
let linked = false;
if (!args['copy-node']) {
  try {
    linkSync(node, join(outdir, 'node'));
    linked = true;
  } catch {
    // another file system: copy
  }
}
if (!linked) copyFileSync(node, join(outdir, 'node'));
chmodSync(join(outdir, 'node'), 0o755);
writeFileSync(join(outdir, 'package.json'), `${JSON.stringify({ name: 'voidkey-broker-lambda-snapshot', version, private: true }, null, 2)}\n`);
if (args.config) copyFileSync(args.config, join(outdir, 'config.yaml'));
console.log(`bundle-lambda-snapshot: ${relative(process.cwd(), outdir) || '.'} for ${process.platform}-${process.arch}, node ${nodeVersion} (${linked ? 'hard link' : 'copy'} of ${relative(root, node)})`);

// --- smoke test and cold start ---------------------------------------------------------

const emulatorModule = join(root, 'dist/sandbox/lambda-runtime-emulator.js');
if (!existsSync(emulatorModule)) {
  console.error('bundle-lambda-snapshot: dist/sandbox/lambda-runtime-emulator.js is missing: run npm run build first (the smoke test uses it)');
  process.exit(1);
}
const { startLambdaRuntimeEmulator } = await import(pathToFileURL(emulatorModule).href);

/** Valid, offline and free of secrets (the same as scripts/bundle-lambda.mjs's smoke test). */
const SMOKE_CONFIG = `clientIdps:
  - name: github-actions
    issuer: https://token.actions.githubusercontent.com
    audience: https://voidkey.example.com
    jwksUri: https://token.actions.githubusercontent.com/.well-known/jwks
accessProviders:
  - name: aws-prod
    type: aws-sts
    auth: ambient
    region: us-east-1
clientIdentities:
  - name: app-main
    subject: repo:acme/app:ref:refs/heads/main
    idp: github-actions
    claims: { repository_id: "123456" }
    keys:
      AWS_DEPLOY:
        provider: aws-prod
        roleArn: arn:aws:iam::111122223333:role/deploy
        outputs: { AWS_ACCESS_KEY_ID: AccessKeyId }
server:
  audit: { stdout: false }
`;
const HEALTH = {
  version: '2.0',
  routeKey: '$default',
  rawPath: '/health',
  rawQueryString: '',
  headers: { host: 'lambda.local' },
  requestContext: { stage: '$default', requestId: 'probe', http: { method: 'GET', path: '/health', sourceIp: '127.0.0.1' } },
  isBase64Encoded: false,
};

/**
 * The managed-runtime bundle under the same emulator: a fresh node imports its index.js (as
 * Lambda's nodejs24.x runtime does, which then polls the same API) and runs a minimal loop.
 */
const MANAGED_PROBE = `const { request } = require('node:http');
const call = (method, path, body) => new Promise((done, fail) => {
  const req = request({ host: '127.0.0.1', port: process.env.AWS_LAMBDA_RUNTIME_API.split(':')[1], method, path }, (res) => {
    const chunks = []; res.on('data', (c) => chunks.push(c)); res.on('end', () => done({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
  });
  req.on('error', fail); req.end(body);
});
(async () => {
  const { handler } = await import(process.argv[1]);
  const next = await call('GET', '/2018-06-01/runtime/invocation/next');
  const id = next.headers['lambda-runtime-aws-request-id'];
  const result = await handler(JSON.parse(next.body), { awsRequestId: id });
  await call('POST', '/2018-06-01/runtime/invocation/' + id + '/response', JSON.stringify(result));
  await new Promise(() => {});
})();`;

function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** One cold process: spawn → the emulator has its answer to one /health event. */
async function coldStart(command, commandArgs, extraEnv = {}) {
  const emulator = await startLambdaRuntimeEmulator();
  const env = { PATH: process.env.PATH ?? '', AWS_LAMBDA_RUNTIME_API: emulator.address, VOIDKEY_CONFIG_YAML: SMOKE_CONFIG, LOG_LEVEL: 'warn', AWS_REGION: 'us-east-1', ...extraEnv };
  const started = performance.now();
  const child = spawn(command, commandArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  let measured;
  emulator.onOutcome = () => (measured = { ms: performance.now() - started, cpuMs: cpuMs(child.pid) });
  const exited = new Promise((done) => child.once('exit', (code, signal) => done(`exited (${signal ?? code})`)));
  try {
    const outcome = await Promise.race([emulator.invoke({ event: HEALTH, timeoutMs: 60_000 }), exited]);
    if (typeof outcome === 'string' || outcome.kind !== 'response') throw new Error(`the runtime did not answer /health: ${typeof outcome === 'string' ? outcome : outcome.kind}\n${output}`);
    const { statusCode, body } = JSON.parse(outcome.body);
    if (statusCode !== 200) throw new Error(`/health answered ${statusCode}: ${body}\n${output}`);
    return measured;
  } finally {
    child.kill('SIGKILL');
    await exited;
    await emulator.close();
  }
}

// As Lambda runs it: LAMBDA_TASK_ROOT set (bootstrap then needs no subshell to find its folder).
const snapshotRun = () => coldStart(join(outdir, 'bootstrap'), [], { LAMBDA_TASK_ROOT: outdir });
const smoke = await snapshotRun().catch((err) => {
  console.error(`bundle-lambda-snapshot: smoke test failed: ${err.message}`);
  process.exit(1);
});
console.log(`bundle-lambda-snapshot: smoke test passed (bootstrap answered /health ${smoke.ms.toFixed(0)} ms after spawn, ${smoke.cpuMs.toFixed(0)} ms CPU)`);

const runs = Number(args['cold-start'] ?? 0);
if (runs > 0) {
  let managedDir = args.managed ? resolve(args.managed) : undefined;
  const scratch = managedDir ? undefined : mkdtempSync(join(tmpdir(), 'voidkey-lambda-managed-'));
  try {
    if (!managedDir) {
      managedDir = scratch;
      const managed = spawnSync(node, [join(root, 'scripts/bundle-lambda.mjs'), '--out', managedDir], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
      if (managed.status !== 0) process.exit(managed.status ?? 1);
    }
    const managedRun = () => coldStart(node, ['-e', MANAGED_PROBE, join(managedDir, 'index.js')]);
    const results = { managed: [], snapshot: [] };
    for (let round = 0; round < runs; round++) {
      // Alternated, so both see the same load on a shared machine.
      results.managed.push(await managedRun());
      results.snapshot.push(await snapshotRun());
    }
    const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    for (const [name, label] of [
      ['managed', 'managed-runtime bundle (dist/lambda, nodejs24.x)'],
      ['snapshot', 'custom runtime from the snapshot (bootstrap)'],
    ]) {
      const cpu = results[name].map((run) => run.cpuMs);
      console.log(
        `bundle-lambda-snapshot: cold start, spawn to the answer at the Runtime API, ${runs} runs, ${label}: ` +
          `median ${median(cpu).toFixed(0)} ms CPU (min ${Math.min(...cpu).toFixed(0)}, max ${Math.max(...cpu).toFixed(0)}), median ${median(results[name].map((run) => run.ms)).toFixed(0)} ms wall`,
      );
    }
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}
