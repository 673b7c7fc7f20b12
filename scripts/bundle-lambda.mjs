/* global process, console */
// Bundles the broker's Lambda handler into ES modules for the nodejs24.x runtime:
//   node scripts/bundle-lambda.mjs [--out DIR] [--config FILE] [--cold-start N] [--metafile FILE]
// Output (DIR defaults to dist/lambda; deploy the whole directory):
//   index.js        the Handler (`index.handler`): turns on V8's compile cache, imports main.js
//   main.js         the broker; builds the app while it loads (Lambda's init phase)
//   chunks/         code main.js imports, and what it imports on demand: each provider's
//                   minting code and cloud SDK is a chunk of its own, imported on the first
//                   mint for that provider type (a cold start parses and evaluates none of them)
//   lazy/           modules only rare paths use (scripts/bundle-common.mjs LAZY_MODULES),
//                   required on first use
//   compile-cache/  V8's code for every module a cold start compiles, made by one cold start
//                   here with this Node (valid only for the same Node version and architecture)
//   package.json    {"type": "module"}, which makes Lambda load index.js as ESM
// The config's JSON Schemas are precompiled into the bundle (scripts/precompile-schemas.mjs).
// --metafile FILE writes esbuild's metafile (which sources went into which output file).
// --config FILE copies FILE into the bundle as config.yaml (VOIDKEY_CONFIG=/var/task/config.yaml),
// with the policy files its `policy:` section names relative to it; otherwise set
// VOIDKEY_CONFIG_YAML on the function.
// Every build is smoke-tested on Node 24 (this node if it is 24+, else the repo's own): a
// fresh `node` loads the bundle from a copy without node_modules and answers a /health
// event. --cold-start N repeats that N times and prints the median time and CPU from
// process start to the first answer.
//
// Why ESM: NestJS 12 is ESM-only and loads its optional peers through
// `createRequire(import.meta.url)` and `import()`; in a CommonJS bundle `import.meta.url`
// is undefined. ESM also allows top-level await, so the app is built during Lambda's
// init phase (and ahead of traffic with provisioned concurrency).
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { assertOwnClassNamesKept, builtinsAsRequire, ESM_BANNER, lazyModules, OPTIONAL_PEERS, precompiledValidators, rxjsAsEsm, sourcePatches } from './bundle-common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { out: { type: 'string' }, config: { type: 'string' }, 'cold-start': { type: 'string' }, metafile: { type: 'string' } }, strict: true });
const outdir = resolve(args.out ?? join(root, 'dist/lambda'));
const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));

/** The bundled broker (main.js): built while the module loads, so during Lambda's init phase. */
const lambdaEntry = {
  name: 'lambda-entry',
  setup(build) {
    build.onResolve({ filter: /^lambda-entry:main$/ }, () => ({ path: 'lambda-entry.ts', namespace: 'lambda-entry' }));
    build.onLoad({ filter: /.*/, namespace: 'lambda-entry' }, () => ({
      contents: "import { handler } from './broker-server/lambda';\nawait handler.warm();\nexport { handler };\n",
      resolveDir: root,
      loader: 'ts',
    }));
  },
};

/**
 * index.js, the function's entry: turns on V8's compile cache from compile-cache/ beside
 * it (generated below, read-only in /var/task) before main.js and its chunks are compiled.
 * A cache made by another Node version, or for other file contents, is not used: those
 * modules compile as without it. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
const INDEX_JS = `// Voidkey broker, AWS Lambda entry (Handler: index.handler); built by scripts/bundle-lambda.mjs.
const { enableCompileCache } = process.getBuiltinModule('node:module');
const { fileURLToPath } = process.getBuiltinModule('node:url');
try {
  enableCompileCache({ directory: fileURLToPath(new URL('./compile-cache', import.meta.url)), portable: true });
} catch {
  // Without the cache the bundle only compiles slower.
}
export const { handler } = await import('./main.js');
`;

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const result = await build({
  absWorkingDir: root,
  // The broker builds the app at module load (Lambda's init phase); a bad config does not
  // throw here, it is logged once and every request is answered 503 config_invalid.
  entryPoints: { main: 'lambda-entry:main' },
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  external: OPTIONAL_PEERS,
  banner: { js: ESM_BANNER },
  plugins: [lambdaEntry, precompiledValidators, builtinsAsRequire, lazyModules, rxjsAsEsm, sourcePatches],
  // No keepNames: see assertOwnClassNamesKept (scripts/bundle-common.mjs).
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  sourcemap: 'linked',
  sourcesContent: false,
  metafile: true,
  logLevel: 'warning',
});
await assertOwnClassNamesKept(root, Object.keys(result.metafile.outputs).map((output) => join(root, output)));
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
await writeFile(join(outdir, 'index.js'), INDEX_JS);
await writeFile(join(outdir, 'package.json'), `${JSON.stringify({ name: 'voidkey-broker-lambda', version, private: true, type: 'module' }, null, 2)}\n`);

// Decorator metadata must survive: the broker's controllers are wired by it.
const test = (name) => Object.keys(result.metafile.inputs).some((input) => input.includes(name));
for (const needed of ['lambda-entry:lambda-entry.ts', 'broker-server/lambda.ts', 'broker-server/create-app.ts', 'providers/index.ts']) {
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
const bytes = result.metafile.outputs[relative(root, join(outdir, 'main.js'))]?.bytes ?? 0;
console.log(`bundle-lambda: ${relative(process.cwd(), join(outdir, 'main.js')) || 'main.js'} (${(bytes / 1024 / 1024).toFixed(1)} MiB)`);

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
process.stdout.write(JSON.stringify({ node: process.version, ms: performance.now(), cpuMs: (cpu.user + cpu.system) / 1000, status: result.statusCode, body: result.body }));`;

/**
 * The Node that runs the bundle here: Lambda's runtime is nodejs24.x, so this one when it is
 * Node 24 or newer, else the repo's own (the `node` devDependency, node_modules/.bin/node).
 * The compile cache is made by, and only valid for, this exact Node version.
 */
function lambdaNode() {
  if (Number(process.versions.node.split('.')[0]) >= 24) return process.execPath;
  const repoNode = join(root, 'node_modules/node/bin/node');
  if (existsSync(repoNode)) return repoNode;
  console.error(`bundle-lambda: node ${process.version} is older than Lambda's nodejs24.x and the repo's Node 24 (node_modules/node) is not installed: run npm ci`);
  process.exit(1);
}
const node = lambdaNode();
const coldStart = (dir) =>
  promisify(execFile)(node, ['--input-type=module', '-e', PROBE, join(dir, 'index.js')], { env: { PATH: process.env.PATH ?? '', VOIDKEY_CONFIG_YAML: SMOKE_CONFIG, LOG_LEVEL: 'warn' } });

// The compile cache: one cold start in the output folder writes V8's code for every module
// it compiled (portable: paths relative to the folder, so it is valid wherever the folder is).
await coldStart(outdir);
// Named for the Node version and architecture that made it (v24.21.0-x64-…): another one ignores it.
const caches = existsSync(join(outdir, 'compile-cache')) ? await readdir(join(outdir, 'compile-cache')) : [];
if (caches.length !== 1) {
  console.error(`bundle-lambda: the cold start wrote ${caches.length} compile caches, not one`);
  process.exit(1);
}
console.log(`bundle-lambda: compile cache compile-cache/${caches[0]} (valid only on that Node version and architecture)`);

// A copy outside the repository proves the bundle needs no node_modules.
const probeDir = await mkdtemp(join(tmpdir(), 'voidkey-lambda-'));
try {
  await cp(outdir, probeDir, { recursive: true });
  const runs = Math.max(1, Number(args['cold-start'] ?? 1));
  const times = [];
  const cpuTimes = [];
  let probeVersion = '';
  for (let run = 0; run < runs; run++) {
    const { stdout } = await coldStart(probeDir);
    const probe = JSON.parse(stdout);
    if (probe.status !== 200) {
      console.error(`bundle-lambda: the bundle answered /health with ${probe.status}: ${probe.body}`);
      process.exit(1);
    }
    probeVersion = probe.node;
    times.push(probe.ms);
    cpuTimes.push(probe.cpuMs);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(
    runs === 1
      ? `bundle-lambda: smoke test passed (node ${probeVersion}: /health answered ${median(times).toFixed(0)} ms after process start)`
      : `bundle-lambda: cold start, process start to first answer, ${runs} runs on node ${probeVersion}: ` +
          `median ${median(times).toFixed(0)} ms wall (min ${sorted[0].toFixed(0)}, max ${sorted.at(-1).toFixed(0)}), median ${median(cpuTimes).toFixed(0)} ms CPU (user + system)`,
  );
} finally {
  await rm(probeDir, { recursive: true, force: true });
}
