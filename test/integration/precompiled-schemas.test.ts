import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import configSchema from '../../config/broker-config.schema.json';
import { AJV_OPTIONS, schemaKey, type PrecompiledValidators, type SchemaSet } from '../../broker-core/config/validators';
import { MINT_BODY_SCHEMA } from '../../broker-server/request-schema';
import { providerDescriptors } from '../../providers/descriptors';
import { REPO_ROOT } from '../../sandbox/broker-process';

/**
 * The build's precompiled validators (dist/config/validators.js, scripts/precompile-schemas.mjs)
 * must be exactly what ajv compiles at run time, and in step with the sources.
 */
const VALIDATORS_FILE = join(REPO_ROOT, 'dist/config/validators.js');
const EXAMPLES = join(REPO_ROOT, 'config/examples');
const exampleFiles = readdirSync(EXAMPLES).filter((name) => name.endsWith('.yaml'));
const examples = exampleFiles.map((name) => parse(readFileSync(join(EXAMPLES, name), 'utf8')) as Record<string, unknown>);
const descriptors = [...providerDescriptors().values()];

// eslint-disable-next-line @typescript-eslint/no-require-imports
const precompiled = (require(VALIDATORS_FILE) as PrecompiledValidators).validators;
const runtime = { config: new Ajv(AJV_OPTIONS.config), request: new Ajv(AJV_OPTIONS.request) };

function pair(set: SchemaSet, schema: object): { built: ValidateFunction; compiled: ValidateFunction } {
  const built = precompiled[schemaKey(set, schema)];
  if (built === undefined) throw new Error(`no precompiled validator for a ${set} schema: dist/config/validators.js is stale (npm run build)`);
  return { built, compiled: runtime[set].compile(schema) };
}

/** Each fixture plus its mutants: every member dropped, retyped, and an unknown member added. */
function mutants(value: unknown): unknown[] {
  const out: unknown[] = [];
  const walk = (node: unknown, replace: (next: unknown) => unknown) => {
    for (const wrong of [42, 'text', true, null, [], {}, -1.5]) if (typeof wrong !== typeof node || Array.isArray(wrong) !== Array.isArray(node)) out.push(replace(wrong));
    if (Array.isArray(node)) {
      out.push(replace([]));
      node.forEach((item, index) => walk(item, (next) => replace(node.map((other, i) => (i === index ? next : other)))));
    } else if (node && typeof node === 'object') {
      out.push(replace({ ...node, unexpectedField: 'x' }));
      for (const key of Object.keys(node)) {
        const rest: Record<string, unknown> = { ...node };
        delete rest[key];
        out.push(replace(rest));
        walk((node as Record<string, unknown>)[key], (next) => replace({ ...node, [key]: next }));
      }
    }
  };
  walk(value, (next) => next);
  return [value, ...out];
}

function expectSameAnswers(set: SchemaSet, schema: object, fixtures: unknown[]): { valid: number; invalid: number } {
  const { built, compiled } = pair(set, schema);
  const counts = { valid: 0, invalid: 0 };
  for (const data of fixtures) {
    const answers = [built, compiled].map((validate) => ({ valid: validate(data), errors: validate.errors ?? null }));
    expect(answers[0]).toEqual(answers[1]);
    counts[answers[0]!.valid ? 'valid' : 'invalid']++;
  }
  return counts;
}

describe('precompiled JSON Schema validators', () => {
  it('the build output is what the sources generate now (npm run build is fresh)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voidkey-validators-'));
    try {
      const out = join(dir, 'validators.js');
      execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/precompile-schemas.mjs'), out], { cwd: REPO_ROOT });
      expect(readFileSync(VALIDATORS_FILE, 'utf8') === readFileSync(out, 'utf8')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('covers the config schema, every built-in provider and key schema, and the mint request', () => {
    const schemas: Array<[SchemaSet, object]> = [['config', configSchema], ...descriptors.flatMap((d): Array<[SchemaSet, object]> => [['config', d.providerSchema], ['config', d.keySchema]]), ['request', MINT_BODY_SCHEMA]];
    expect(schemas.filter(([set, schema]) => precompiled[schemaKey(set, schema)] === undefined)).toEqual([]);
    expect(descriptors.map((d) => d.type).sort()).toEqual(['aws-sts', 'azure', 'broker-jwt', 'gcp', 'minio-sts']);
  });

  it('the config schema: the same answers and errors as ajv at run time on the examples and their mutants', () => {
    const counts = expectSameAnswers('config', configSchema, examples.flatMap(mutants));
    expect(counts.valid).toBeGreaterThanOrEqual(examples.length);
    expect(counts.invalid).toBeGreaterThan(100);
  });

  it('each provider and key schema: the same answers and errors on the examples’ entries and their mutants', () => {
    for (const descriptor of descriptors) {
      const providers = examples.flatMap((config) => (config.accessProviders as Array<{ name: string; type: string }>).filter((p) => p.type === descriptor.type));
      const names = new Set(providers.map((p) => p.name));
      const keys = examples.flatMap((config) =>
        (config.clientIdentities as Array<{ keys: Record<string, { provider: string }> }>).flatMap((identity) => Object.values(identity.keys).filter((key) => names.has(key.provider))),
      );
      // Types no example uses are still held to the same answers on a minimal entry.
      const providerFixtures = providers.length > 0 ? providers : [{ name: 'p', type: descriptor.type }];
      const keyFixtures = keys.length > 0 ? keys : [{ provider: 'p', outputs: { OUT: descriptor.outputFields[0] } }];
      const providerCounts = expectSameAnswers('config', descriptor.providerSchema, providerFixtures.flatMap(mutants));
      const keyCounts = expectSameAnswers('config', descriptor.keySchema, keyFixtures.flatMap(mutants));
      expect({ type: descriptor.type, providersInvalid: providerCounts.invalid > 0, keysInvalid: keyCounts.invalid > 0 }).toEqual({ type: descriptor.type, providersInvalid: true, keysInvalid: true });
    }
  });

  it('the mint request schema: the same answers and errors on good and bad bodies', () => {
    const bodies = [{}, { keys: ['AWS_DEPLOY'] }, { oidcToken: 'x', keys: ['A', 'B'], duration: 900, idpName: 'github' }, { all: true }];
    const counts = expectSameAnswers('request', MINT_BODY_SCHEMA, [...bodies.flatMap(mutants), { keys: Array.from({ length: 101 }, (_, i) => `K${i}`) }, { keys: [''] }, { duration: 0 }]);
    expect(counts.valid).toBeGreaterThanOrEqual(bodies.length);
    expect(counts.invalid).toBeGreaterThan(10);
  });

  it('the built broker compiles no schema at start: every example loads with 0 run-time compiles; a schema the build never saw is compiled (positive control)', () => {
    const script = `
const { loadConfig, createProviderRegistry } = require('./dist/broker-core');
const { builtInProviders } = require('./dist/providers');
const validators = require('./dist/broker-core/config/validators.js');
const { readdirSync, readFileSync } = require('node:fs');
const env = { BROKER_CLIENT_SECRET: 'example-secret' };
// Positive control: a custom provider type whose schema no build precompiled.
const custom = { ...builtInProviders().get('aws-sts'), type: 'custom-sts', providerSchema: { type: 'object', required: ['name', 'type'], properties: { name: { type: 'string' }, type: { const: 'custom-sts' } }, additionalProperties: false } };
const text = readFileSync('config/examples/github-actions.yaml', 'utf8');
const before = validators.runtimeCompileCount();
try { loadConfig(text.replace(/type: aws-sts/g, 'type: custom-sts'), { fileName: 'custom', env, providers: createProviderRegistry([...builtInProviders().values(), custom]) }); } catch {}
const customCompiles = validators.runtimeCompileCount() - before;
const start = validators.runtimeCompileCount();
for (const name of readdirSync('config/examples')) loadConfig(readFileSync('config/examples/' + name, 'utf8'), { fileName: name, env, providers: builtInProviders() });
process.stdout.write(JSON.stringify({ customCompiles, exampleCompiles: validators.runtimeCompileCount() - start }));
`;
    const counts = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: REPO_ROOT, encoding: 'utf8' })) as { customCompiles: number; exampleCompiles: number };
    expect(counts).toEqual({ customCompiles: 1, exampleCompiles: 0 });
  });
});
