/* global process, require */
// Injected into the snapshot bundle (scripts/bundle-snapshot.mjs): `__dirname`,
// `__filename` and `import.meta.url` in any bundled module name where the bundle is when
// the process runs, not where the snapshot was built (a container image builds in one
// folder and runs in another). `__voidkeyVendor(name)` requires a vendor bundle
// (DIR/vendor/NAME.cjs: a cloud SDK, cedar-wasm) at run time, on first use.
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startupSnapshot } from 'node:v8';

// node's snapshot builder runs the script with `require` (built-ins only), not `module`.
export let __voidkeyFilename = resolve(process.argv[1]);
export let __voidkeyDirname = dirname(__voidkeyFilename);
export let __voidkeyImportMetaUrl = pathToFileURL(__voidkeyFilename).href;
let runtimeRequire;

/** The bundle this process runs: the folder of `--snapshot-blob`, else the script node was given. */
function bundleFile() {
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const blob = args[i] === '--snapshot-blob' ? args[i + 1] : args[i].startsWith('--snapshot-blob=') ? args[i].slice('--snapshot-blob='.length) : undefined;
    if (blob) return join(dirname(resolve(blob)), 'main.cjs');
  }
  return resolve(process.argv[1] ?? __voidkeyFilename);
}

if (startupSnapshot.isBuildingSnapshot()) {
  startupSnapshot.addDeserializeCallback(() => {
    __voidkeyFilename = bundleFile();
    __voidkeyDirname = dirname(__voidkeyFilename);
    __voidkeyImportMetaUrl = pathToFileURL(__voidkeyFilename).href;
  });
}

export function __voidkeyVendor(name) {
  if (startupSnapshot.isBuildingSnapshot()) throw new Error(`vendor bundle '${name}' was required while the snapshot was being built: it must load at run time only`);
  // The snapshot's own `require` knows built-ins only: vendor bundles need node's loader.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  runtimeRequire ??= require('node:module').createRequire(__voidkeyFilename);
  return runtimeRequire(`./vendor/${name}.cjs`);
}

/**
 * `Intl` as the bundle sees it. A formatter holds ICU objects V8 cannot put in a snapshot
 * (NestJS keeps two `Intl.DateTimeFormat`s in module scope): one constructed while the
 * snapshot is built is a stand-in that constructs the real one on first use, at run time,
 * with the run-time locale.
 */
export const __voidkeyIntl = new Proxy(globalThis.Intl, {
  get(target, key) {
    const real = target[key];
    if (typeof real !== 'function' || !startupSnapshot.isBuildingSnapshot()) return real;
    return new Proxy(real, {
      construct(Formatter, args) {
        let instance;
        const get = () => (instance ??= new Formatter(...args));
        return new Proxy(
          {},
          {
            get: (_, name) => {
              const value = get()[name];
              return typeof value === 'function' ? value.bind(get()) : value;
            },
          },
        );
      },
    });
  },
});
