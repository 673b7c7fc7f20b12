// What the server and Lambda bundles (scripts/bundle-server.mjs, scripts/bundle-lambda.mjs)
// share: the optional peers left out, the CommonJS shims of an ES module bundle, the
// precompiled schema validators, and what keeps a start from loading code it does not run
// (built-ins and modules required on first use, rxjs tree-shaken, source patches).
import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { readFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
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
    build.onResolve({ filter: /^(node:)?[a-z0-9_/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (!BUILTINS.has(name)) return undefined;
      const lazy = args.namespace === 'file' ? LAZY_BUILTINS.find((rule) => rule.importer.test(args.importer) && rule.modules.includes(name)) : undefined;
      if (lazy && args.kind === 'require-call') return { path: name, namespace: 'lazy-builtin' };
      if (lazy && lazy.exports) return { path: name, namespace: 'lazy-builtin-exports', pluginData: lazy.exports };
      if (args.namespace === 'builtin-require' || args.namespace.startsWith('lazy-') || args.kind === 'require-call') return { path: `node:${name}`, external: true };
      return { path: `node:${name}`, namespace: 'builtin-require' };
    });
    build.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({ loader: 'js', contents: `module.exports = require(${JSON.stringify(args.path)});` }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      loader: 'js',
      contents: `let real;\nmodule.exports = ${lazyProxy(`(real ??= require(${JSON.stringify(`node:${args.path}`)}))`)};`,
    }));
    // An ES import copies every export at load, so it gets only the names it imports, each a proxy.
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin-exports' }, (args) => ({
      loader: 'js',
      contents: [
        'let real;',
        `const load = () => (real ??= require(${JSON.stringify(`node:${args.path}`)}));`,
        ...args.pluginData.map((name) => `export const ${name} = ${lazyProxy(`load().${name}`)};`),
      ].join('\n'),
    }));
  },
};

/**
 * Built-ins loaded at start but used only for features a cold start does not reach: TLS,
 * HTTP/2 and DNS (~40 ms of CPU to load) are what fastify needs to serve HTTPS or HTTP/2
 * or to resolve a listen host name, NestJS reads tls.Server only to name the protocol
 * of a listening server, and its multipart storage writes uploads to disk. Each is required on first use; `exports` lists the names an ES
 * import takes (a new one fails the build, not the broker).
 */
const LAZY_BUILTINS = [
  { importer: /node_modules\/fastify\/lib\/server\.js$/, modules: ['https', 'http2', 'dns'] },
  { importer: /node_modules\/@nestjs\/core\/nest-application\.js$/, modules: ['tls'], exports: ['Server'] },
  // NestJS's multipart disk storage (file uploads; the broker takes none): fs/promises loads readline & co.
  { importer: /node_modules\/@nestjs\/platform-fastify\/multipart\/storage\/disk\.storage\.js$/, modules: ['fs/promises'], exports: ['unlink'] },
  { importer: /node_modules\/@nestjs\/platform-fastify\/multipart\/storage\/disk\.storage\.js$/, modules: ['stream/promises'], exports: ['finished', 'pipeline'] },
];

/**
 * The source of a stand-in for the value `load` evaluates to (a module or a class): every
 * use (property, call, `new`, `instanceof`, `in`, keys) loads it and acts on it.
 */
function lazyProxy(load) {
  return `new Proxy(function () {}, {
  get: (_, key) => ${load}[key],
  has: (_, key) => key in ${load},
  ownKeys: () => Reflect.ownKeys(${load}),
  getOwnPropertyDescriptor: (_, key) => ({ ...Reflect.getOwnPropertyDescriptor(${load}, key), configurable: true }),
  getPrototypeOf: () => Reflect.getPrototypeOf(${load}),
  construct: (_, args, newTarget) => Reflect.construct(${load}, args, newTarget === undefined ? ${load} : newTarget),
  apply: (_, self, args) => Reflect.apply(${load}, self, args),
})`;
}

/**
 * Modules required at load time but used only on rare paths: prom-client's Pushgateway
 * (which loads node:https, hence TLS) and cluster aggregator, the OpenTelemetry API
 * prom-client reads only for exemplars (not enabled), fastify's schema compilers (ajv,
 * ajv-formats, fast-json-stringify), which only a route with a JSON Schema uses (the
 * broker's routes validate their bodies themselves), ajv itself, which
 * broker-core/config/validators.ts needs only for a schema the build did not precompile,
 * and pino's worker-thread
 * transports (thread-stream; never configured here).
 *
 * Each require() of one of them becomes a proxy that requires the real module on first
 * use, so a feature that does use one still gets it. The real module is an entry of its
 * own in the bundle (`lazy/NAME.js` beside the main entry; code it shares with the rest is
 * in shared chunks): a start that never uses it neither parses nor evaluates it. Node 24
 * loads that ES module synchronously with require() (no top-level await in it).
 * `file` is where the module must resolve; a dependency update that moves it fails the build.
 */
export const LAZY_MODULES = [
  { name: 'prom-client-pushgateway', file: 'node_modules/prom-client/lib/pushgateway.js', importer: /node_modules\/prom-client\/index\.js$/, path: /^\.\/lib\/pushgateway$/ },
  { name: 'prom-client-cluster', file: 'node_modules/prom-client/lib/cluster.js', importer: /node_modules\/prom-client\/index\.js$/, path: /^\.\/lib\/cluster$/ },
  { name: 'opentelemetry-api', file: 'node_modules/@opentelemetry/api/dist/index.cjs', importer: /node_modules\/prom-client\/(index\.js|lib\/metrics\/[^/]+\.js|lib\/[^/]+\.js)$/, path: /^@opentelemetry\/api$/ },
  { name: 'fastify-validator-compiler', file: 'node_modules/@fastify/ajv-compiler/lib/validator-compiler.js', importer: /node_modules\/@fastify\/ajv-compiler\/index\.js$/, path: /^\.\/lib\/validator-compiler$/ },
  { name: 'fastify-serializer-compiler', file: 'node_modules/@fastify/ajv-compiler/lib/serializer-compiler.js', importer: /node_modules\/@fastify\/ajv-compiler\/index\.js$/, path: /^\.\/lib\/serializer-compiler$/ },
  { name: 'fast-json-stringify', file: 'node_modules/fast-json-stringify/index.js', importer: /node_modules\/@fastify\/fast-json-stringify-compiler\/standalone\.js$/, path: /^fast-json-stringify$/ },
  { name: 'ajv', file: 'node_modules/ajv/dist/ajv.js', importer: /broker-core\/config\/validators\.ts$/, path: /^ajv$/ },
  { name: 'thread-stream', file: 'node_modules/thread-stream/index.js', importer: /node_modules\/pino\/lib\/transport\.js$/, path: /^thread-stream$/ },
];

export const lazyModules = {
  name: 'lazy-modules',
  setup(build) {
    const options = build.initialOptions;
    const root = options.absWorkingDir;
    // Without splitting (a CommonJS build) each lazy entry is self-contained: it works, with
    // the code it shares with the rest bundled twice.
    if (typeof options.entryPoints !== 'object' || options.entryPoints === null) throw new Error('lazy-modules: needs entryPoints (an object or an array), not stdin');
    const byFile = new Map(LAZY_MODULES.map((lazy) => [resolvePath(root, lazy.file), lazy]));
    for (const [file, lazy] of byFile) {
      if (!existsSync(file)) throw new Error(`lazy-modules: ${lazy.file} does not exist (a dependency moved it): update LAZY_MODULES`);
      if (Array.isArray(options.entryPoints)) options.entryPoints.push({ in: `lazy-entry:${file}`, out: `lazy/${lazy.name}` });
      else options.entryPoints[`lazy/${lazy.name}`] = `lazy-entry:${file}`;
    }
    const extension = options.outExtension?.['.js'] ?? '.js';
    build.onResolve({ filter: /^lazy-entry:/ }, (args) => (args.kind === 'entry-point' ? { path: args.path.slice('lazy-entry:'.length), namespace: 'lazy-entry' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'lazy-entry' }, (args) => ({ loader: 'js', resolveDir: root, contents: `module.exports = require(${JSON.stringify(args.path)});` }));
    build.onResolve({ filter: /^[@.a-z]/ }, async (args) => {
      if (args.namespace !== 'file' || args.kind !== 'require-call') return undefined;
      if (!LAZY_MODULES.some((lazy) => lazy.importer.test(args.importer) && lazy.path.test(args.path))) return undefined;
      const real = await build.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer });
      if (real.errors.length > 0) return { errors: real.errors };
      const lazy = byFile.get(real.path);
      if (lazy === undefined) return { errors: [{ text: `lazy-modules: ${args.path} (from ${args.importer}) resolved to ${real.path}, not to a LAZY_MODULES file` }] };
      return { path: lazy.name, namespace: 'lazy-module' };
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-module' }, (args) => ({
      loader: 'js',
      resolveDir: root,
      contents: `let real;
const load = () => {
  if (real === undefined) {
    const { join } = require('node:path');
    const { existsSync } = require('node:fs');
    const name = ${JSON.stringify(`${args.path}${extension}`)};
    // This code sits in the main entry, in chunks/ or in lazy/: the entry is in lazy/ beside the main entry.
    const file = [join(__dirname, 'lazy', name), join(__dirname, '..', 'lazy', name)].find((candidate) => existsSync(candidate));
    if (file === undefined) throw new Error('the bundle is missing lazy/' + name);
    const loaded = require(file);
    real = ${options.format === 'esm' ? 'loaded.default' : 'loaded'};
  }
  return real;
};
module.exports = ${lazyProxy('load()')};`,
    }));
  },
};

/**
 * The same modules for a one-file build (the startup snapshot's `main.cjs`, whose main
 * function can only require built-ins): each stays in the file behind the same proxy and is
 * evaluated on first use. In a snapshot its source is already parsed, so this costs a start
 * nothing.
 */
export const lazyModulesInline = {
  name: 'lazy-modules-inline',
  setup(build) {
    build.onResolve({ filter: /^[@.a-z]/ }, async (args) => {
      if (args.namespace !== 'file' || args.kind !== 'require-call') return undefined;
      if (!LAZY_MODULES.some((lazy) => lazy.importer.test(args.importer) && lazy.path.test(args.path))) return undefined;
      const real = await build.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'lazy-module-inline' };
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-module-inline' }, (args) => ({
      loader: 'js',
      resolveDir: build.initialOptions.absWorkingDir,
      contents: `let real;
const load = () => (real ??= require(${JSON.stringify(args.path)}));
module.exports = ${lazyProxy('load()')};`,
    }));
  },
};

/**
 * rxjs as ES modules: its package gives Node the CommonJS build, which esbuild cannot
 * tree-shake (all of rxjs, ~280 KB, parsed and evaluated at start). The ES build
 * (`sideEffects: false`) keeps only the operators NestJS imports. Every import of rxjs
 * gets the same build, so there is one Observable class.
 */
export const rxjsAsEsm = {
  name: 'rxjs-as-esm',
  setup(build) {
    const root = build.initialOptions.absWorkingDir;
    build.onResolve({ filter: /^rxjs(\/operators)?$/ }, (args) => {
      const file = resolvePath(root, 'node_modules/rxjs/dist/esm', args.path === 'rxjs' ? 'index.js' : 'operators/index.js');
      if (!existsSync(file)) return { errors: [{ text: `rxjs-as-esm: ${file} does not exist (rxjs changed its layout)` }] };
      return { path: file };
    });
  },
};

/**
 * Exact edits of dependencies' sources that change when a value is computed, not what it
 * is. Each `from` must occur exactly once: a dependency update that changes the text fails
 * the build instead of silently bundling the unpatched file.
 */
const SOURCE_PATCHES = [
  {
    // NestJS's console logger formats its timestamps with an Intl.DateTimeFormat built when
    // the module loads (~10 ms of a cold start: ICU's locale data). The broker never logs
    // through Nest (`logger: false`): the formatter is built on the first timestamp instead.
    file: /node_modules\/@nestjs\/common\/services\/console-logger\.service\.js$/,
    from: `const dateTimeFormatter = new Intl.DateTimeFormat(undefined, {
    year: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
    day: '2-digit',
    month: '2-digit',
});`,
    to: `let dateTimeFormatterInstance;
const dateTimeFormatter = {
    format: (value) => (dateTimeFormatterInstance ??= new Intl.DateTimeFormat(undefined, {
        year: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        day: '2-digit',
        month: '2-digit',
    })).format(value),
};`,
  },
];

export const sourcePatches = {
  name: 'source-patches',
  setup(build) {
    for (const patch of SOURCE_PATCHES) {
      build.onLoad({ filter: patch.file }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        const at = text.indexOf(patch.from);
        if (at < 0 || text.indexOf(patch.from, at + 1) >= 0) return { errors: [{ text: `source-patches: ${args.path} changed; the patch no longer applies exactly once` }] };
        return { contents: text.replace(patch.from, () => patch.to), loader: 'js', resolveDir: dirname(args.path) };
      });
    }
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
