// esbuild plugins of the snapshot bundle (scripts/bundle-snapshot.mjs).
import { createRequire } from 'node:module';

const nodeRequire = createRequire(import.meta.url);

/**
 * Packages the snapshot leaves out, grouped by what loads them: a provider type's first
 * mint (its SDK), the first policy decision (cedar-wasm, which reads its .wasm file beside
 * itself). Each group is a vendor bundle required at run time; evaluating an SDK at
 * build time would also freeze whatever it reads from the environment at load.
 */
export const VENDOR = {
  aws: ['@aws-sdk/client-sts', '@smithy/node-http-handler'],
  gcp: ['google-auth-library'],
  azure: ['@azure/identity'],
  cedar: ['@cedar-policy/cedar-wasm/nodejs'],
};
const vendorOf = new Map(Object.entries(VENDOR).flatMap(([group, packages]) => packages.map((name) => [name, group])));

export const vendorModules = {
  name: 'vendor-modules',
  setup(build) {
    build.onResolve({ filter: /^[@a-z]/ }, (args) => (vendorOf.has(args.path) ? { path: args.path, namespace: 'vendor' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'vendor' }, (args) => ({
      loader: 'js',
      contents: `module.exports = __voidkeyVendor(${JSON.stringify(vendorOf.get(args.path))})[${JSON.stringify(args.path)}];`,
    }));
  },
};

/**
 * Built-ins that cannot be in a snapshot: loading node:http (its parser binding) or
 * node:tls leaves a native handle V8 cannot serialize, and `--build-snapshot` aborts. In
 * the snapshot each is a proxy that requires the real module at run time, on first use.
 * Dependencies read a few of their constant properties while their modules load (fastify
 * copies http.STATUS_CODES): those are baked in from this node, which is the node that
 * builds and runs the blob. Any other property read at build time fails the build with
 * the reader's stack instead of freezing a half-loaded module.
 */
const RUNTIME_BUILTINS = new Set(['http', 'https', 'tls', 'http2', '_http_agent', '_http_client', '_http_common', '_http_incoming', '_http_outgoing', '_http_server', '_tls_common', '_tls_wrap']);
const BAKED = { http: ['STATUS_CODES', 'METHODS'] };
export const runtimeBuiltins = {
  name: 'runtime-builtins',
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z_0-9]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (!RUNTIME_BUILTINS.has(name)) return undefined;
      if (args.namespace === 'runtime-builtin') return { path: `node:${name}`, external: true };
      return { path: name, namespace: 'runtime-builtin' };
    });
    build.onLoad({ filter: /.*/, namespace: 'runtime-builtin' }, async (args) => {
      const real = nodeRequire(`node:${args.path}`);
      const baked = Object.fromEntries((BAKED[args.path] ?? []).map((key) => [key, real[key]]));
      return {
        loader: 'js',
        contents: `const { startupSnapshot } = require('node:v8');
const baked = new Map(Object.entries(${JSON.stringify(baked)}));
const keys = ${JSON.stringify(Reflect.ownKeys(real).filter((key) => typeof key === 'string'))};
let real;
const load = (key) => {
  if (real) return real;
  if (startupSnapshot.isBuildingSnapshot()) throw new Error('node:${args.path}.' + String(key) + ' was read while the snapshot was being built: node:${args.path} can only load at run time (scripts/bundle-snapshot.mjs)');
  return (real = require('node:${args.path}'));
};
module.exports = new Proxy({}, {
  get: (_, key) => (real === undefined && baked.has(key) ? baked.get(key) : key === '__esModule' ? undefined : load(key)[key]),
  set: (_, key, value) => ((load(key)[key] = value), true),
  has: (_, key) => (real === undefined && typeof key === 'string' ? keys.includes(key) : key in load(key)),
  ownKeys: () => (real === undefined ? [...keys] : Reflect.ownKeys(real)),
  getOwnPropertyDescriptor: (_, key) => (real === undefined ? (keys.includes(key) ? { enumerable: true, configurable: true, writable: true, value: undefined } : undefined) : Reflect.getOwnPropertyDescriptor(real, key) && { ...Reflect.getOwnPropertyDescriptor(real, key), configurable: true }),
});`,
      };
    });
  },
};

