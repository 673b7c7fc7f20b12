import baseSchema from '../../config/broker-config.schema.json';
import type { ProviderRegistry } from '../access/access-provider';
import { CONFIG_HELP, PROVIDER_HELP, type FieldHelp } from './schema-annotations';

type Schema = Record<string, unknown>;

/**
 * The JSON Schema (draft-07) of the config this build accepts, for editors and
 * `voidkey config schema`: the loader's own schema with each provider type's schemas
 * joined in (`if type is X then X's provider schema`, and a key any provider type's key
 * schema takes), and CONFIG_HELP's descriptions and examples laid over it. Nothing here
 * is hand-kept twice: the validation keywords are the loader's.
 */
export function configJsonSchema(providers: ProviderRegistry): Schema {
  const schema = structuredClone(baseSchema) as Schema;
  schema.$id = 'https://voidkey.dev/schemas/voidkey-config.json';
  annotate(schema, CONFIG_HELP, 'config');
  const types = [...providers.keys()].sort();
  const providerItems = at(schema, 'accessProviders[]')!;
  const typeField = at(providerItems, 'type')!;
  typeField.enum = types;
  providerItems.allOf = types.map((type) => {
    const own = structuredClone(providers.get(type)!.providerSchema) as Schema;
    annotate(own, PROVIDER_HELP[type]?.provider ?? {}, `${type} provider`);
    return { if: { required: ['type'], properties: { type: { const: type } } }, then: own };
  });
  const keyItems = at(schema, 'clientIdentities[].keys.*')!;
  keyItems.anyOf = types.map((type) => {
    const own = structuredClone(providers.get(type)!.keySchema) as Schema;
    annotate(own, PROVIDER_HELP[type]?.key ?? {}, `${type} key`);
    return { title: `a ${type} key`, ...own };
  });
  return schema;
}

/** Every field's path in a schema (`a.b`, `a[]`, `a.*`), for the coverage test. */
export function fieldPaths(schema: Schema, prefix = ''): string[] {
  const paths: string[] = [];
  const join = (suffix: string) => (prefix === '' ? suffix.replace(/^\./, '') : `${prefix}${suffix}`);
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
    const path = join(`.${name}`);
    paths.push(path, ...fieldPaths(child, path));
  }
  if (isSchema(schema.items)) paths.push(join('[]'), ...fieldPaths(schema.items, join('[]')));
  if (isSchema(schema.additionalProperties) && (schema.additionalProperties.properties || schema.additionalProperties.items)) {
    paths.push(join('.*'), ...fieldPaths(schema.additionalProperties, join('.*')));
  }
  return paths;
}

/** The subschema a path names, or undefined. */
export function at(schema: Schema, path: string): Schema | undefined {
  let node: Schema | undefined = schema;
  for (const step of path.match(/[^.[\]]+|\[\]/g) ?? []) {
    if (node === undefined) return undefined;
    if (step === '[]') node = isSchema(node.items) ? node.items : undefined;
    else if (step === '*') node = isSchema(node.additionalProperties) ? node.additionalProperties : undefined;
    else node = ((node.properties ?? {}) as Record<string, Schema>)[step];
  }
  return node;
}

function annotate(schema: Schema, table: Readonly<Record<string, FieldHelp | string>>, what: string): void {
  for (const [path, help] of Object.entries(table)) {
    const node = path === '' ? schema : at(schema, path);
    if (node === undefined) throw new Error(`schema help for '${path}' (${what}) names no field`);
    const { description, examples } = typeof help === 'string' ? { description: help, examples: undefined } : help;
    node.description = description;
    if (examples !== undefined) node.examples = [...examples];
  }
}

function isSchema(value: unknown): value is Schema {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
