/* global process, console */
// Bundles the CLI into one CommonJS file that runs on Node ≥ 20 (CI runners bring
// their own Node): `node scripts/bundle-cli.mjs [outfile]`, run by `npm run build`.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { appendFile, chmod, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = process.argv[2] ?? join(root, 'dist/cli/voidkey.cjs');
const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));

// The CLI talks to the broker over HTTP: none of the server's weight may reach it. Its
// offline tools (config validate/explain) need the providers' schemas: only their
// SDK-free descriptors and the plain config modules these import may come in.
const FORBIDDEN = [
  /node_modules\/@nestjs\//,
  /node_modules\/@aws-sdk\//,
  /node_modules\/@smithy\//,
  /node_modules\/@azure\//,
  /node_modules\/google-auth-library\//,
  /node_modules\/jose\//,
  /node_modules\/@cedar-policy\//,
  /(^|\/)broker-server\//,
  /(^|\/)providers\/(?!descriptors\.ts$|[^/]+\/(descriptor|[a-z-]+-config|schema|policy|claim-templates)\.ts$)/,
];

/**
 * commander requires node:child_process at load time (for executable subcommands,
 * which voidkey does not use), and only `exec` spawns: loading it costs every start
 * about a sixth of the CLI's own time. Both importers get a proxy that requires the
 * real module on first property access.
 */
const LAZY_BUILTINS = /^node:child_process$|^child_process$/;
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    build.onResolve({ filter: LAZY_BUILTINS }, (args) =>
      args.namespace === 'lazy-builtin' ? { path: args.path, external: true } : { path: args.path, namespace: 'lazy-builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      loader: 'js',
      contents: `let real;
const load = () => (real ??= require(${JSON.stringify(args.path)}));
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => ({ ...Reflect.getOwnPropertyDescriptor(load(), key), configurable: true }),
});`,
    }));
  },
};

/**
 * The offline tools (config validate/explain, audit verify: cli/offline/) carry ajv, yaml
 * and the config schemas, four fifths of the CLI's code. Bundled like the rest, V8 would
 * parse them on every start (about 10 ms, five times the rest of the CLI) although only
 * those commands run them. So they are built on their own, gzipped, and appended as the
 * file's last line, a `//` comment V8 skips in well under a millisecond;
 * cli/offline-tools.ts's require('./offline') becomes a loader that reads that line back
 * from this file and compiles it on first use. The CLI stays one file.
 *
 * The CLI modules the offline tools import (errors, exit codes…) are not copied: they
 * come from the host bundle, so `instanceof CliError` holds across the two.
 */
const OFFLINE_MARK = '//voidkey-offline gzip base64:';
const cliDir = join(root, 'cli');
const offlineDir = join(cliDir, 'offline');
const hostModules = new Map();

const shareWithHost = {
  name: 'share-with-host',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer.startsWith(offlineDir + '/')) return undefined;
      const target = [`${resolve(args.resolveDir, args.path)}.ts`, join(resolve(args.resolveDir, args.path), 'index.ts')].find(existsSync);
      if (target === undefined || !target.startsWith(cliDir + '/') || target.startsWith(offlineDir + '/')) return undefined;
      const id = relative(root, target);
      hostModules.set(id, target);
      return { path: id, namespace: 'host-module' };
    });
    build.onLoad({ filter: /.*/, namespace: 'host-module' }, (args) => ({ loader: 'js', contents: `module.exports = __voidkeyHost[${JSON.stringify(args.path)}];` }));
  },
};

const offline = await build({
  absWorkingDir: root,
  entryPoints: ['cli/offline/index.ts'],
  bundle: true,
  write: false,
  outfile: join(root, 'dist/cli/offline.cjs'),
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  metafile: true,
  // cedar-wasm loads its .wasm file beside itself: it stays in node_modules (a dependency of
  // the package), required on first use by the policy commands and configs with `policy:`.
  external: ['@cedar-policy/cedar-wasm', '@cedar-policy/cedar-wasm/*'],
  plugins: [shareWithHost],
  logLevel: 'warning',
});
const payload = `${OFFLINE_MARK}${gzipSync(offline.outputFiles[0].contents, { level: 9 }).toString('base64')}\n`;

/** What cli/offline-tools.ts's require('./offline') gets in the bundle. */
const offlineLoader = {
  name: 'offline-loader',
  setup(build) {
    build.onResolve({ filter: /^\.\/offline$/ }, (args) =>
      args.importer === join(cliDir, 'offline-tools.ts') ? { path: 'offline', namespace: 'offline-loader' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'offline-loader' }, () => ({
      loader: 'js',
      resolveDir: root,
      contents: `
const host = {${[...hostModules.keys()].map((id) => `\n  ${JSON.stringify(id)}: require(${JSON.stringify(`./${id}`)}),`).join('')}
};
const { readFileSync } = require('node:fs');
const { compileFunction } = require('node:vm');
const { gunzipSync } = require('node:zlib');
const text = readFileSync(__filename, 'latin1');
const last = text.slice(text.lastIndexOf('\\n', text.length - 2) + 1);
const mark = ${JSON.stringify(OFFLINE_MARK)};
if (!last.startsWith(mark)) throw new Error('this voidkey file lacks its offline tools (was it edited or re-minified?)');
const code = gunzipSync(Buffer.from(last.slice(mark.length), 'base64')).toString('utf8');
const compiled = compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname', '__voidkeyHost'], { filename: __filename + ' (offline tools)' });
const offline = { exports: {} };
compiled(offline.exports, require, offline, __filename, __dirname, host);
module.exports = offline.exports;
`,
    }));
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: ['cli/voidkey.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  banner: { js: '#!/usr/bin/env node' },
  define: { VOIDKEY_VERSION: JSON.stringify(version) },
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  metafile: true,
  plugins: [lazyBuiltins, offlineLoader],
  logLevel: 'warning',
});

// What reaches the file: a module esbuild parsed but tree-shook away entirely (jose,
// behind broker-core's index) costs nothing.
const reached = (meta, file) =>
  Object.entries(meta.outputs[relative(root, file)]?.inputs ?? meta.inputs)
    .filter(([, info]) => info.bytesInOutput === undefined || info.bytesInOutput > 0)
    .map(([input]) => input);
const bundled = [...reached(result.metafile, outfile), ...reached(offline.metafile, join(root, 'dist/cli/offline.cjs'))];
const offending = bundled.filter((input) => FORBIDDEN.some((pattern) => pattern.test(input)));
if (offending.length > 0) {
  console.error(`bundle-cli: the CLI bundle must not include:\n  ${offending.join('\n  ')}`);
  process.exit(1);
}
await appendFile(outfile, `\n${payload}`);
await chmod(outfile, 0o755);
