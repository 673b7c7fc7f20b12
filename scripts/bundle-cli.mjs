/* global process, console */
// Bundles the CLI into one CommonJS file that runs on Node ≥ 20 (CI runners bring
// their own Node): `node scripts/bundle-cli.mjs [outfile]`, run by `npm run build`.
import { build } from 'esbuild';
import { chmod, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = process.argv[2] ?? join(root, 'dist/cli/voidkey.cjs');
const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));

// The CLI talks to the broker over HTTP: none of the server's weight may reach it.
const FORBIDDEN = [
  /node_modules\/@nestjs\//,
  /node_modules\/@aws-sdk\//,
  /node_modules\/@azure\//,
  /node_modules\/google-auth-library\//,
  /node_modules\/jose\//,
  /(^|\/)broker-server\//,
  /(^|\/)providers\//,
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
  plugins: [lazyBuiltins],
  logLevel: 'warning',
});

const offending = Object.keys(result.metafile.inputs).filter((input) => FORBIDDEN.some((pattern) => pattern.test(input)));
if (offending.length > 0) {
  console.error(`bundle-cli: the CLI bundle must not include:\n  ${offending.join('\n  ')}`);
  process.exit(1);
}
await chmod(outfile, 0o755);
