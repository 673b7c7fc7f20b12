/* global process, console, fetch, setTimeout */
// Start time of the broker server: spawn → first `GET /health` 200, with `node` directly
// (not through npm, which adds ~150 ms of its own).
//   node scripts/bench/start.mjs [--runs N] [--entry FILE] [-- NODE_FLAGS...]
// Default entry: dist/broker-server/main.js (run `npm run build` first); `--entry
// dist/server/main.cjs` measures the bundle. Prints, per run and as medians, the wall time
// from spawn to the first 200 and the CPU (user + system, /proc) the process had used by then.
// The config is offline (nothing is fetched before a token arrives) and free of secrets.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { values: args, positionals: nodeFlags } = parseArgs({
  options: { runs: { type: 'string', default: '7' }, entry: { type: 'string', default: 'dist/broker-server/main.js' }, json: { type: 'boolean' } },
  allowPositionals: true,
  strict: true,
});

const CONFIG = `brokerIdp:
  clientId: voidkey-broker
  clientSecret: start-bench-not-a-secret
  tokenEndpoint: https://idp.example.com/token
  audience: voidkey-broker
clientIdps:
  - name: github-actions
    issuer: https://token.actions.githubusercontent.com
    audience: https://voidkey.example.com
    jwksUri: https://token.actions.githubusercontent.com/.well-known/jwks
accessProviders:
  - name: aws-prod
    type: aws-sts
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

const freePort = () =>
  new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function once(configFile) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeFlags, resolve(root, args.entry), '--config', configFile, '--port', String(port), '--host', '127.0.0.1'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let exited = false;
  child.once('exit', () => (exited = true));
  try {
    for (;;) {
      if (exited) throw new Error(`the broker exited before answering /health:\n${stderr}`);
      if (performance.now() - started > 20_000) throw new Error('no /health 200 within 20 s');
      const status = await fetch(`http://127.0.0.1:${port}/health`).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 200) return { ms: performance.now() - started, cpuMs: cpuMs(child.pid) };
      await new Promise((done) => setTimeout(done, 2));
    }
  } finally {
    child.kill('SIGKILL');
    if (!exited) await new Promise((done) => child.once('exit', done));
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const dir = await mkdtemp(join(tmpdir(), 'voidkey-start-'));
try {
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, CONFIG);
  await once(configFile); // warms the page cache; not counted
  const runs = [];
  for (let i = 0; i < Number(args.runs); i++) runs.push(await once(configFile));
  const summary = { entry: args.entry, node: process.version, runs: runs.length, medianMs: median(runs.map((r) => r.ms)), medianCpuMs: median(runs.map((r) => r.cpuMs)), all: runs };
  if (args.json) console.log(JSON.stringify(summary));
  else
    console.log(
      `start ${args.entry} on node ${process.version}, ${runs.length} runs: spawn → /health 200 median ${summary.medianMs.toFixed(0)} ms ` +
        `(${runs.map((r) => r.ms.toFixed(0)).join(', ')}), CPU by then median ${summary.medianCpuMs.toFixed(0)} ms`,
    );
} finally {
  await rm(dir, { recursive: true, force: true });
}
