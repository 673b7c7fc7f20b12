/* global process, console */
// Bundles the broker's Lambda handler into one ES module for the nodejs24.x runtime:
//   node scripts/bundle-lambda.mjs [--out DIR] [--config FILE] [--cold-start N] [--metafile FILE]
// Output: DIR/index.js (Handler `index.handler`; DIR defaults to dist/lambda), the chunks it
// imports on demand in DIR/chunks/, and DIR/package.json ({"type": "module"}, which makes
// Lambda load index.js as ESM). Deploy the whole directory.
// Each provider's minting code and cloud SDK is a chunk of its own, imported on the first
// mint for that provider type: a cold start parses and evaluates none of them, and a
// function that only mints AWS keys never loads google-auth-library or @azure/identity.
// The config's JSON Schemas are precompiled into the bundle (scripts/precompile-schemas.mjs).
// --metafile FILE writes esbuild's metafile (which sources went into which output file).
// --config FILE copies FILE into the bundle as config.yaml (VOIDKEY_CONFIG=/var/task/config.yaml),
// with the policy files its `policy:` section names relative to it; otherwise set
// VOIDKEY_CONFIG_YAML on the function.
// Every build is smoke-tested: a fresh `node` loads the bundle from a directory without
// node_modules and answers a /health event. --cold-start N repeats that N times and
// prints the median time from process start to the first answer.
//
// Why ESM: NestJS 12 is ESM-only and loads its optional peers through
// `createRequire(import.meta.url)` and `import()`; in a CommonJS bundle `import.meta.url`
// is undefined. ESM also allows top-level await, so the app is built during Lambda's
// init phase (and ahead of traffic with provisioned concurrency).
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { builtinsAsRequire, ESM_BANNER, lazyModules, OPTIONAL_PEERS, precompiledValidators } from './bundle-common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { out: { type: 'string' }, config: { type: 'string' }, 'cold-start': { type: 'string' }, metafile: { type: 'string' } }, strict: true });
const outdir = resolve(args.out ?? join(root, 'dist/lambda'));
const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const result = await build({
  absWorkingDir: root,
  // The entry builds the app at module load (Lambda's init phase); a bad config does not
  // throw here, it is logged once and every request is answered 503 config_invalid.
  stdin: {
    contents: "import { handler } from './broker-server/lambda';\nawait handler.warm();\nexport { handler };\n",
    resolveDir: root,
    sourcefile: 'lambda-entry.ts',
    loader: 'ts',
  },
  outdir,
  entryNames: 'index',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  external: OPTIONAL_PEERS,
  banner: { js: ESM_BANNER },
  plugins: [precompiledValidators, builtinsAsRequire, lazyModules],
  // Nest resolves providers by class; keep constructor names readable in its errors.
  keepNames: true,
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  sourcemap: 'linked',
  sourcesContent: false,
  metafile: true,
  logLevel: 'warning',
});
// cedar-wasm's Node entry reads its module from `${__dirname}/cedar_wasm_bg.wasm`: in the
// bundle that is the folder of the output file holding it (a chunk, with splitting), so the
// module goes beside each such file (policy guardrails, docs/policy.md).
const cedarEntry = 'node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm.js';
const cedarOutputs = Object.entries(result.metafile.outputs).filter(([, output]) => (output.inputs[cedarEntry]?.bytesInOutput ?? 0) > 0).map(([file]) => file);
if (cedarOutputs.length === 0) {
  console.error(`bundle-lambda: ${cedarEntry} is missing from the bundle`);
  process.exit(1);
}
for (const file of cedarOutputs) await copyFile(join(root, 'node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm_bg.wasm'), join(root, dirname(file), 'cedar_wasm_bg.wasm'));
await writeFile(join(outdir, 'package.json'), `${JSON.stringify({ name: 'voidkey-broker-lambda', version, private: true, type: 'module' }, null, 2)}\n`);

// Decorator metadata must survive: the broker's controllers are wired by it.
const test = (name) => Object.keys(result.metafile.inputs).some((input) => input.includes(name));
for (const needed of ['broker-server/lambda.ts', 'broker-server/create-app.ts', 'providers/index.ts']) {
  if (!test(needed)) {
    console.error(`bundle-lambda: ${needed} is missing from the bundle`);
    process.exit(1);
  }
}
if (args.config) {
  await copyFile(args.config, join(outdir, 'config.yaml'));
  // The policy files the config names (relative to it) ship beside it, at the same place.
  const policy = parseYaml(await readFile(args.config, 'utf8'))?.policy;
  for (const name of ['active', 'observe']) {
    const path = policy?.[name];
    if (typeof path !== 'string' || isAbsolute(path)) continue; // an absolute path is the function's own business (a layer, EFS)
    const from = resolve(dirname(args.config), path);
    const to = resolve(outdir, path);
    if (relative(outdir, to).startsWith('..')) {
      console.error(`bundle-lambda: policy.${name} (${path}) is outside the config's folder: it cannot be shipped in the bundle`);
      process.exit(1);
    }
    await cp(from, to, { recursive: true });
  }
}
if (args.metafile) await writeFile(args.metafile, JSON.stringify(result.metafile));
const bytes = result.metafile.outputs[relative(root, join(outdir, 'index.js'))]?.bytes ?? 0;
console.log(`bundle-lambda: ${relative(process.cwd(), join(outdir, 'index.js')) || 'index.js'} (${(bytes / 1024 / 1024).toFixed(1)} MiB)`);

// --- smoke test and cold start ---------------------------------------------------------

/** Valid, offline (nothing is fetched before a token arrives) and free of secrets. */
const SMOKE_CONFIG = `brokerIdp:
  clientId: voidkey-broker
  clientSecretFile: /run/secrets/smoke-test-never-read
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

/** Run by a fresh node: load the bundle, answer one HTTP API /health event, print the timing. */
const PROBE = `const { handler } = await import(process.argv[1]);
const result = await handler({ version: '2.0', routeKey: '$default', rawPath: '/health', rawQueryString: '', headers: { host: 'lambda.local' },
  requestContext: { stage: '$default', requestId: 'probe', http: { method: 'GET', path: '/health', sourceIp: '127.0.0.1' } }, isBase64Encoded: false },
  { awsRequestId: '00000000-0000-4000-8000-000000000000' });
const cpu = process.cpuUsage();
process.stdout.write(JSON.stringify({ ms: performance.now(), cpuMs: (cpu.user + cpu.system) / 1000, status: result.statusCode, body: result.body }));`;

// A copy outside the repository proves the bundle needs no node_modules.
const probeDir = await mkdtemp(join(tmpdir(), 'voidkey-lambda-'));
try {
  await cp(outdir, probeDir, { recursive: true });
  const runs = Math.max(1, Number(args['cold-start'] ?? 1));
  const times = [];
  const cpuTimes = [];
  for (let run = 0; run < runs; run++) {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', PROBE, join(probeDir, 'index.js')], {
      env: { PATH: process.env.PATH ?? '', VOIDKEY_CONFIG_YAML: SMOKE_CONFIG, LOG_LEVEL: 'warn' },
    });
    const probe = JSON.parse(stdout);
    if (probe.status !== 200) {
      console.error(`bundle-lambda: the bundle answered /health with ${probe.status}: ${probe.body}`);
      process.exit(1);
    }
    times.push(probe.ms);
    cpuTimes.push(probe.cpuMs);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(
    runs === 1
      ? `bundle-lambda: smoke test passed (node ${process.version}: /health answered ${median(times).toFixed(0)} ms after process start)`
      : `bundle-lambda: cold start, process start to first answer, ${runs} runs on node ${process.version}: ` +
          `median ${median(times).toFixed(0)} ms wall (min ${sorted[0].toFixed(0)}, max ${sorted.at(-1).toFixed(0)}), median ${median(cpuTimes).toFixed(0)} ms CPU (user + system)`,
  );
} finally {
  await rm(probeDir, { recursive: true, force: true });
}
