import { createHash } from 'node:crypto';
import type Ajv from 'ajv';
import type { Options, ValidateFunction } from 'ajv';

type AjvModule = { default: typeof Ajv };

/**
 * JSON Schema validators, precompiled at build time where possible.
 *
 * Compiling the config's schemas with ajv at start cost ~150-250 ms of CPU (most of the
 * Lambda cold start). `npm run build` (scripts/precompile-schemas.mjs) therefore writes
 * every schema this build knows of — the config schema, every built-in provider's
 * provider and key schemas, the mint request — as ajv standalone code to
 * dist/config/validators.js. `validatorFor` takes a validator from there when its schema
 * (same option set, same JSON) was precompiled, and compiles it with ajv otherwise: a
 * schema the build did not see (a custom provider's, or any schema changed since the
 * build) is still validated exactly, only compiled at run time. Ajv itself is then loaded
 * only on that fallback. test/integration/precompiled-schemas.test.ts holds the two kinds
 * of validator to the same answers and the build output to the sources.
 */
export type SchemaSet = keyof typeof AJV_OPTIONS;

/** The ajv options of each set of schemas; the precompile step uses exactly these. */
export const AJV_OPTIONS = {
  /** Config validation reports every problem at once; `verbose` keeps `parentSchema` (oneOf descriptions). */
  config: { allErrors: true, strict: true, allowUnionTypes: true, verbose: true },
  /** Requests stop at the first problem. */
  request: { allErrors: false, strict: true },
} as const satisfies Record<string, Options>;

/** What identifies a compiled schema: its option set and its exact JSON. */
export function schemaKey(set: SchemaSet, schema: object): string {
  return `${set}:${createHash('sha256').update(JSON.stringify(schema)).digest('base64url')}`;
}

/** The generated module's shape. */
export interface PrecompiledValidators {
  readonly validators: Readonly<Record<string, ValidateFunction>>;
}

let precompiled: Readonly<Record<string, ValidateFunction>> | undefined;
const compilers = new Map<SchemaSet, Ajv>();
const cache = new WeakMap<object, Map<SchemaSet, ValidateFunction>>();
let runtimeCompiles = 0;

function loadPrecompiled(): Readonly<Record<string, ValidateFunction>> {
  if (precompiled === undefined) {
    try {
      // dist/config/validators.js, beside dist/config/broker-config.schema.json; the server
      // and Lambda bundles resolve it at bundle time. Absent when running from the sources.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      precompiled = (require('../../config/validators.js') as PrecompiledValidators).validators;
    } catch {
      precompiled = {};
    }
  }
  return precompiled;
}

/** The validator for a schema: precompiled when the build saw this schema, else compiled now (once per schema object). */
export function validatorFor<T = unknown>(set: SchemaSet, schema: object): ValidateFunction<T> {
  let bySet = cache.get(schema);
  let validate = bySet?.get(set);
  if (validate === undefined) {
    validate = loadPrecompiled()[schemaKey(set, schema)] ?? compileNow(set, schema);
    if (bySet === undefined) cache.set(schema, (bySet = new Map()));
    bySet.set(set, validate);
  }
  return validate as ValidateFunction<T>;
}

/** Always compiles at run time (the reference the precompiled validators are tested against). */
export function compileNow(set: SchemaSet, schema: object): ValidateFunction {
  let ajv = compilers.get(set);
  if (ajv === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const AjvClass = (require('ajv') as AjvModule).default;
    ajv = new AjvClass(AJV_OPTIONS[set]);
    compilers.set(set, ajv);
  }
  runtimeCompiles++;
  // A schema with an $id is registered once per ajv instance.
  const id = (schema as { $id?: unknown }).$id;
  return (typeof id === 'string' ? ajv.getSchema(id) : undefined) ?? ajv.compile(schema);
}

/** How many schemas this process compiled at run time (0 when every one was precompiled). */
export function runtimeCompileCount(): number {
  return runtimeCompiles;
}
