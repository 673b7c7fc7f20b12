/* global process, console */
// Builds the broker server's V8 startup snapshot (run by `npm run build`, after
// scripts/bundle-server.mjs, with the node that will run it):
//   node scripts/bundle-snapshot.mjs [--out DIR] [--entry FILE]
// Output in DIR (default dist/server):
//   main.cjs      the server as one CommonJS script (it also runs on its own: `node main.cjs`)
//   main.blob     the V8 heap after main.cjs was evaluated: `node --snapshot-blob DIR/main.blob DIR/main.cjs --config …`
//   vendor/*.cjs  what loads on first use, outside the snapshot: each cloud SDK, cedar-wasm
//
// Why: evaluating the bundle (parsing 2.6 MB of JS, NestJS, rxjs, fastify, pino, yaml, …)
// was about half of a start. In the snapshot it is done once, at build time; a process
// deserializes the heap instead. Only module evaluation is snapshotted: the config, the
// environment, the clock, randomness, sockets and timers are all read or opened when the
// process runs (broker-server/launch.ts). The blob only works with the node binary that
// built it, so it is built by `npm run build` and in the image's build stage.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { assertOwnClassNamesKept, lazyModulesInline, OPTIONAL_PEERS, precompiledValidators, rxjsAsEsm } from './bundle-common.mjs';
import { runtimeBuiltins, VENDOR, vendorModules } from './snapshot/plugins.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// --entry: another entry than the server's (test/integration/snapshot-build.test.ts builds fixtures).
const { values: args } = parseArgs({ options: { out: { type: 'string' }, entry: { type: 'string', default: 'broker-server/main.ts' } }, strict: true });
const outdir = resolve(args.out ?? join(root, 'dist/server'));

// The vendor bundles (cloud SDKs) keep their names: the SDKs' errors are told apart by name.
const common = { absWorkingDir: root, bundle: true, platform: 'node', target: 'node24', format: 'cjs', minify: true, keepNames: true, legalComments: 'none', logLevel: 'warning' };

await mkdir(join(outdir, 'vendor'), { recursive: true });
const result = await build({
  ...common,
  entryPoints: [args.entry],
  outfile: join(outdir, 'main.cjs'),
  // The broker's own code and the framework, which run on every request: names kept as
  // written, without keepNames' __name() calls (see assertOwnClassNamesKept).
  minify: false,
  minifySyntax: true,
  minifyWhitespace: true,
  keepNames: false,
  external: OPTIONAL_PEERS,
  plugins: [precompiledValidators, vendorModules, runtimeBuiltins, lazyModulesInline, rxjsAsEsm],
  inject: [join(root, 'scripts/snapshot/inject.mjs')],
  define: { __dirname: '__voidkeyDirname', __filename: '__voidkeyFilename', 'import.meta.url': '__voidkeyImportMetaUrl', Intl: '__voidkeyIntl' },
  // Built-ins a start loads after the bundle (net's listen() loads cluster, which loads
  // child_process and dgram; main.ts reads util.parseArgs) are loaded into the snapshot
  // too: in a process started from a user snapshot node compiles each built-in it loads
  // anew. (cluster reads NODE_UNIQUE_ID when it loads: the broker never runs as a cluster
  // worker.)
  footer: { js: "if (require('node:v8').startupSnapshot.isBuildingSnapshot()) { require('node:cluster'); require('node:util').parseArgs; }" },
  sourcemap: 'linked',
  sourcesContent: false,
  metafile: true,
});
await assertOwnClassNamesKept(root, [join(outdir, 'main.cjs')]);
for (const [group, packages] of Object.entries(VENDOR)) {
  const entry = join(outdir, 'vendor', `${group}.entry.cjs`);
  await writeFile(entry, `module.exports = {\n${packages.map((name) => `  ${JSON.stringify(name)}: require(${JSON.stringify(name)}),`).join('\n')}\n};\n`);
  await build({ ...common, entryPoints: [entry], outfile: join(outdir, 'vendor', `${group}.cjs`), nodePaths: [join(root, 'node_modules')] });
  await rm(entry);
}
await copyFile(join(root, 'node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm_bg.wasm'), join(outdir, 'vendor/cedar_wasm_bg.wasm'));

// The snapshot is built with an empty environment: a dependency that reads a variable
// while its module loads sees it unset, as it would in a process started without it,
// never a value of the build machine. (docs/performance.md lists which ones do.)
const blob = join(outdir, 'main.blob');
// Without V8's code cache of node's own modules: the blob is 5 MB smaller, which saves
// more deserializing than the cache saves compiling (measured: docs/performance.md).
const snapshotConfig = join(outdir, 'snapshot-config.json');
await writeFile(snapshotConfig, JSON.stringify({ builder: join(outdir, 'main.cjs'), withoutCodeCache: true }));
const built = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot-config', snapshotConfig, '--build-snapshot'], { cwd: outdir, env: {}, encoding: 'utf8' });
await rm(snapshotConfig);
// node warns about every built-in it has not certified for user snapshots. These were
// checked (the e2e suite runs the snapshot): worker_threads (pino), module, perf_hooks and
// async_hooks (fastify, NestJS), cluster (preloaded above: node:net loads it in listen())
// load at build time and work after deserialization.
const CHECKED = /^\(node:\d+\) Warning: It's not yet fully verified whether built-in module "(node:)?(worker_threads|module|perf_hooks|async_hooks|cluster)" works in user snapshot builder scripts\.\n(It may still work.*\n|To request support.*\n|\(Use `node --trace-warnings.*\n)*/gm;
const output = `${built.stdout}${built.stderr}`.replace(CHECKED, '');
if (output.trim()) process.stderr.write(output);
if (built.status !== 0) {
  console.error(`bundle-snapshot: node --build-snapshot failed (${built.signal ?? `exit ${built.status}`})`);
  process.exit(1);
}
const bytes = result.metafile.outputs[relative(root, join(outdir, 'main.cjs'))]?.bytes ?? 0;
console.log(`bundle-snapshot: ${relative(process.cwd(), blob)} (main.cjs ${(bytes / 1024 / 1024).toFixed(1)} MiB) for node ${process.version}`);
