/* global process, console */
// Bundles the broker server into ES modules for `npm start` and the container image:
//   node scripts/bundle-server.mjs [--out DIR]        (run by `npm run build`)
// Output: DIR/main.mjs (DIR defaults to dist/server) and DIR/chunks/*.mjs. It needs no
// node_modules: `node dist/server/main.mjs --config FILE` takes the same options and
// environment as dist/broker-server/main.js (the unbundled build, kept for tests and tools).
//
// Why: the unbundled server resolves and reads ~750 files at start (Node's module
// resolution alone cost ~100 ms here); the bundle is a few files. Like the Lambda bundle,
// each provider's minting code and cloud SDK is a chunk imported on the provider type's
// first mint, the config's JSON Schemas are precompiled, and dependencies' unused
// load-time modules are deferred (scripts/bundle-common.mjs). Measure with
// `node scripts/bench/start.mjs --entry dist/server/main.mjs` (docs/performance.md).
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { assertOwnClassNamesKept, builtinsAsRequire, ESM_BANNER, lazyModules, OPTIONAL_PEERS, precompiledValidators, rxjsAsEsm, sourcePatches } from './bundle-common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { out: { type: 'string' } }, strict: true });
const outdir = resolve(args.out ?? join(root, 'dist/server'));

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'broker-server/main.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  external: OPTIONAL_PEERS,
  banner: { js: ESM_BANNER },
  plugins: [precompiledValidators, builtinsAsRequire, lazyModules, rxjsAsEsm, sourcePatches],
  // No keepNames: see assertOwnClassNamesKept (scripts/bundle-common.mjs).
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  sourcemap: 'linked',
  sourcesContent: false,
  metafile: true,
  logLevel: 'warning',
});
for (const needed of ['broker-server/main.ts', 'broker-server/create-app.ts', 'providers/index.ts', 'precompiled-validators:validators.js']) {
  if (!Object.keys(result.metafile.inputs).some((input) => input.includes(needed))) {
    console.error(`bundle-server: ${needed} is missing from the bundle`);
    process.exit(1);
  }
}
await assertOwnClassNamesKept(root, Object.keys(result.metafile.outputs).map((output) => join(root, output)));
// cedar-wasm's Node entry reads its module from `${__dirname}/cedar_wasm_bg.wasm`: beside
// whichever output file esbuild put it in (a chunk: policies load on first use).
for (const [output, { inputs }] of Object.entries(result.metafile.outputs)) {
  if (Object.keys(inputs).some((input) => input.includes('@cedar-policy/cedar-wasm/nodejs/'))) {
    await copyFile(join(root, 'node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm_bg.wasm'), join(root, dirname(output), 'cedar_wasm_bg.wasm'));
  }
}
const main = join(outdir, 'main.mjs');
const bytes = result.metafile.outputs[relative(root, main)]?.bytes ?? 0;
console.log(`bundle-server: ${relative(process.cwd(), main) || main} (${(bytes / 1024 / 1024).toFixed(1)} MiB)`);
