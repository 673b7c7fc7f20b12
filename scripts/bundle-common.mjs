// What the server and Lambda bundles (scripts/bundle-server.mjs, scripts/bundle-lambda.mjs)
// share: the optional peers left out, the CommonJS shims of an ES module bundle, and the
// precompiled schema validators.
import { builtinModules } from 'node:module';
import { generateValidators } from './precompile-schemas.mjs';

const BUILTINS = new Set(builtinModules.filter((name) => !name.startsWith('_')));

/**
 * Optional peers NestJS and @nestjs/platform-fastify reach only for features the broker
 * does not use (microservices, websockets, express, validation pipes, static files,
 * views, multipart). They are not installed; left external, the `import()` that would
 * load them fails only if a feature asks for it, exactly as in the unbundled server.
 */
export const OPTIONAL_PEERS = [
  '@nestjs/microservices',
  '@nestjs/microservices/*',
  '@nestjs/websockets',
  '@nestjs/websockets/*',
  '@nestjs/platform-express',
  'class-validator',
  'class-transformer',
  'class-transformer/*',
  '@fastify/static',
  '@fastify/view',
  '@fastify/multipart',
  // pino's worker-thread transports (pino-pretty & co.) are never configured here.
  'pino-pretty',
];

// CommonJS dependencies bundled into an ES module still call require() and read
// __dirname/__filename: give them the real ones.
export const ESM_BANNER = [
  "import { createRequire as __voidkeyCreateRequire } from 'node:module';",
  "import { fileURLToPath as __voidkeyFileURLToPath } from 'node:url';",
  "import { dirname as __voidkeyDirname } from 'node:path';",
  'const require = __voidkeyCreateRequire(import.meta.url);',
  'const __filename = __voidkeyFileURLToPath(import.meta.url);',
  'const __dirname = __voidkeyDirname(__filename);',
].join('\n');

/**
 * broker-core/config/validators.ts requires '../../config/validators.js' (dist/config/ in
 * the tsc build): in a bundle that module is generated from the sources being bundled, so
 * it is always in step with them.
 */
export const precompiledValidators = {
  name: 'precompiled-validators',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/\.\.\/config\/validators\.js$/ }, (args) =>
      args.importer.endsWith('broker-core/config/validators.ts') ? { path: 'validators.js', namespace: 'precompiled-validators' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'precompiled-validators' }, async () => ({ contents: await generateValidators(), loader: 'js', resolveDir: build.initialOptions.absWorkingDir }));
  },
};

/**
 * An ES module that imports a Node built-in gets its ESM facade, which reads every export
 * once: for node:http that loads undici (its WebSocket & co. getters), ~100 ms of a cold
 * start, for node:crypto the whole WebCrypto layer. Built-ins are therefore required (as
 * CommonJS code does), and their properties read only when used.
 */
export const builtinsAsRequire = {
  name: 'builtins-as-require',
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (!BUILTINS.has(name)) return undefined;
      if (args.namespace === 'builtin-require' || args.kind === 'require-call') return { path: `node:${name}`, external: true };
      return { path: `node:${name}`, namespace: 'builtin-require' };
    });
    build.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({ loader: 'js', contents: `module.exports = require(${JSON.stringify(args.path)});` }));
  },
};

/**
 * Modules a dependency requires at load time but the broker never uses: prom-client's
 * Pushgateway (which loads node:https, hence TLS) and cluster aggregator, the
 * OpenTelemetry API prom-client reads only for exemplars (not enabled), and fastify's
 * schema compilers (ajv, ajv-formats, fast-json-stringify), which only a route with a
 * JSON Schema uses (the broker's routes validate their bodies themselves). Each becomes a
 * proxy that requires the real module on first use, so a feature that does use one
 * still gets it.
 */
const LAZY_MODULES = [
  { importer: /node_modules\/prom-client\/(index\.js|lib\/metrics\/[^/]+\.js)$/, path: /^(\.\/lib\/pushgateway|\.\/lib\/cluster|@opentelemetry\/api)$/ },
  { importer: /node_modules\/@fastify\/ajv-compiler\/index\.js$/, path: /^\.\/lib\/(validator|serializer)-compiler$/ },
  { importer: /node_modules\/@fastify\/fast-json-stringify-compiler\/standalone\.js$/, path: /^fast-json-stringify$/ },
];
export const lazyModules = {
  name: 'lazy-modules',
  setup(build) {
    build.onResolve({ filter: /^[@.a-z]/ }, async (args) => {
      if (args.namespace !== 'file' || args.kind !== 'require-call') return undefined;
      if (!LAZY_MODULES.some((lazy) => lazy.importer.test(args.importer) && lazy.path.test(args.path))) return undefined;
      const real = await build.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'lazy-module' };
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-module' }, (args) => ({
      loader: 'js',
      resolveDir: build.initialOptions.absWorkingDir,
      contents: `let real;
const load = () => (real ??= require(${JSON.stringify(args.path)}));
module.exports = new Proxy(function () {}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => ({ ...Reflect.getOwnPropertyDescriptor(load(), key), configurable: true }),
  construct: (_, args) => new (load())(...args),
  apply: (_, self, args) => load().apply(self, args),
});`,
    }));
  },
};

/**
 * The bundles are built without esbuild's `keepNames`: it wraps every function and class
 * in a `__name()` call that defines its `name` property, at load and each time a closure
 * is created, and that cost about 2.5 % of the CPU of a mint (docs/performance.md). Names
 * then survive as written except where esbuild renames a top-level binding to avoid a
 * clash between modules (`Foo` → `Foo2`), which would change `name`: error classes take
 * their `name` from it (broker-core/errors.ts). This refuses a build in which any class the
 * project declares was renamed. `outputs`: the written files' paths.
 */
export async function assertOwnClassNamesKept(root, outputs) {
  const { readFile, readdir } = await import('node:fs/promises');
  const declared = new Set();
  for (const folder of ['broker-core', 'broker-server', 'providers', 'sandbox', 'cli']) {
    for (const file of await readdir(`${root}/${folder}`, { recursive: true })) {
      if (!file.endsWith('.ts') || file.endsWith('.test.ts') || file.endsWith('.d.ts')) continue;
      for (const match of (await readFile(`${root}/${folder}/${file}`, 'utf8')).matchAll(/^(?:export )?(?:abstract )?class ([A-Za-z0-9_$]+)/gm)) declared.add(match[1]);
    }
  }
  const renamed = new Set();
  for (const output of outputs.filter((file) => /\.m?js$/.test(file))) {
    const text = await readFile(output, 'utf8');
    for (const match of text.matchAll(/(?:\bclass ([A-Za-z_$][\w$]*?)(\d+)\b|\b([A-Za-z_$][\w$]*?)(\d+)=class\b)/g)) {
      const base = match[1] ?? match[3];
      if (declared.has(base)) renamed.add(`${base} → ${base}${match[2] ?? match[4]}`);
    }
  }
  if (renamed.size > 0) throw new Error(`the bundle renamed classes of this project (their name property changes): ${[...renamed].join(', ')}; rename one of the clashing classes`);
}
