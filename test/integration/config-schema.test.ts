import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import baseSchema from '../../config/broker-config.schema.json';
import { ConfigError, loadConfig } from '../../broker-core';
import { at, configJsonSchema, fieldPaths } from '../../broker-core/config/config-json-schema';
import { builtInProviders } from '../../providers';
import { REPO_ROOT, runCli } from '../../sandbox/broker-process';

type Schema = Record<string, unknown>;

const CONFIG_FILES = ['sample-config.yaml', ...readdirSync(join(REPO_ROOT, 'config/examples')).map((name) => `config/examples/${name}`)];
const SCHEMA_FILE = join(REPO_ROOT, 'config/voidkey-config.schema.json');
const MODELINE = /^# yaml-language-server: \$schema=(\S+)\n/;

/** Annotations only: what editors show, never what is valid. */
function stripHelp(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripHelp);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== 'description' && key !== 'examples' && key !== 'title')
      .map(([key, child]) => [key, stripHelp(child)]),
  );
}

describe('voidkey config schema', () => {
  let printed: Schema;
  let validate: ValidateFunction;
  beforeAll(async () => {
    const result = await runCli(['config', 'schema']);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    printed = JSON.parse(result.stdout) as Schema;
    validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(printed);
  });

  it('prints what the build writes to config/voidkey-config.schema.json, and what the server\'s providers make', () => {
    expect(printed).toEqual(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')));
    expect(printed).toEqual(configJsonSchema(builtInProviders()));
  });

  it('is the loader\'s schemas joined, with help laid over and nothing else changed', () => {
    const providers = builtInProviders();
    const joined = structuredClone(printed);
    const items = at(joined, 'accessProviders[]')!;
    const branches = items.allOf as Array<{ if: { properties: { type: { const: string } } }; then: Schema }>;
    expect(branches.map((branch) => branch.if.properties.type.const)).toEqual([...providers.keys()].sort());
    expect(at(joined, 'accessProviders[].type')!.enum).toEqual([...providers.keys()].sort());
    for (const branch of branches) expect(stripHelp(branch.then)).toEqual(stripHelp(providers.get(branch.if.properties.type.const)!.providerSchema));
    const keyBranches = at(joined, 'clientIdentities[].keys.*')!.anyOf as Schema[];
    expect(keyBranches.map(stripHelp)).toEqual([...providers.keys()].sort().map((type) => stripHelp(providers.get(type)!.keySchema)));
    delete items.allOf;
    delete at(joined, 'accessProviders[].type')!.enum;
    delete at(joined, 'clientIdentities[].keys.*')!.anyOf;
    // The editor schema names itself apart from the loader's base schema.
    expect(joined.$id).not.toBe((baseSchema as Schema).$id);
    delete joined.$id;
    const base = structuredClone(baseSchema) as Schema;
    delete base.$id;
    expect(stripHelp(joined)).toEqual(stripHelp(base));
  });

  it('gives every field a description, and every example is valid for its field', () => {
    const ajv = new Ajv({ strict: false, allowUnionTypes: true });
    const nodes: Array<[string, Schema]> = fieldPaths(printed).map((path) => [path, at(printed, path)!]);
    const items = at(printed, 'accessProviders[]')!.allOf as Array<{ if: { properties: { type: { const: string } } }; then: Schema }>;
    for (const branch of items) nodes.push(...fieldPaths(branch.then).map((path): [string, Schema] => [`${branch.if.properties.type.const} provider: ${path}`, at(branch.then, path)!]));
    for (const [index, key] of (at(printed, 'clientIdentities[].keys.*')!.anyOf as Schema[]).entries()) {
      nodes.push(...fieldPaths(key).map((path): [string, Schema] => [`key branch ${index}: ${path}`, at(key, path)!]));
    }
    expect(nodes.length).toBeGreaterThan(100);
    const undescribed = nodes.filter(([, node]) => typeof node.description !== 'string' || node.description.length < 8).map(([path]) => path);
    expect(undescribed).toEqual([]);
    const badExamples = nodes.flatMap(([path, node]) =>
      ((node.examples as unknown[] | undefined) ?? []).filter((example) => !ajv.validate(stripHelp(node) as Schema, example)).map((example) => `${path}: ${JSON.stringify(example)}`),
    );
    expect(badExamples).toEqual([]);
  });

  it.each(CONFIG_FILES)('%s starts with the yaml-language-server modeline, and the schema it names accepts it', (file) => {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    const target = MODELINE.exec(text)?.[1];
    expect(target).toBeDefined();
    expect(resolve(dirname(join(REPO_ROOT, file)), target!)).toBe(SCHEMA_FILE);
    // As an editor sees the file: ${VAR}s not yet interpolated.
    expect({ file, valid: validate(parse(text)), errors: validate.errors ?? null }).toEqual({ file, valid: true, errors: null });
  });

  describe('refuses what the loader refuses at its schema stage', () => {
    const baseText = readFileSync(join(REPO_ROOT, 'config/examples/github-actions.yaml'), 'utf8');
    const env = { BROKER_CLIENT_SECRET: 'example-secret' };
    type Mutation = (config: Record<string, any>) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
    const loaderVerdict = (config: unknown): string => {
      try {
        loadConfig(JSON.stringify(config), { fileName: 'x.yaml', env, providers: builtInProviders() });
        return 'accepted';
      } catch (err) {
        if (err instanceof ConfigError) return 'refused';
        throw err;
      }
    };
    const mutated = (mutate: Mutation) => {
      const config = parse(baseText) as Record<string, unknown>;
      mutate(config);
      return config;
    };

    it('accepts the unchanged preset, as the loader does (positive control)', () => {
      const config = mutated(() => undefined);
      expect(loaderVerdict(config)).toBe('accepted');
      expect(validate(config)).toBe(true);
    });

    it.each<[string, Mutation]>([
      ['an unknown top-level field', (c) => (c.extra = 1)],
      ['a setting of the wrong type', (c) => (c.settings = { upstreamTimeoutMs: 'fast' })],
      ['a setting out of range', (c) => (c.settings = { clockSkewSeconds: 3600 })],
      ['an identity without keys', (c) => delete c.clientIdentities[0].keys],
      ['an output that is neither a field name nor {value}', (c) => (Object.values(c.clientIdentities[0].keys as Record<string, { outputs: Record<string, unknown> }>)[0]!.outputs.X = 5)],
      ['an unknown provider type', (c) => (c.accessProviders[0].type = 'oracle-cloud')],
      ['an unknown field on an aws-sts provider', (c) => (c.accessProviders[0].tenantId = '00000000-0000-0000-0000-000000000000')],
      ['an aws-sts region that is not one', (c) => (c.accessProviders[0].region = 'Mars')],
      ['a key with a field no provider type has', (c) => (Object.values(c.clientIdentities[0].keys as Record<string, Record<string, unknown>>)[0]!.colour = 'blue')],
    ])('%s', (_name, mutate) => {
      const config = mutated(mutate);
      expect(loaderVerdict(config)).toBe('refused');
      expect(validate(config)).toBe(false);
    });
  });
});
