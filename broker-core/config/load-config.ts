import type { ErrorObject, ValidateFunction } from 'ajv';
import { LineCounter, isMap, isNode, isPair, isScalar, parseDocument, visit, type Document } from 'yaml';
import schema from '../../config/broker-config.schema.json';
import type { ConfigProblem, ProviderRegistry } from '../access/access-provider';
import { ConfigError, formatPath, type ConfigIssue } from './config-error';
import { interpolateEnv } from './interpolate';
import { checkSemantics } from './check-semantics';
import { loadPolicies, type LoadedPolicies, type PolicyReader } from './load-policies';
import { DEFAULT_SETTINGS, DEFAULT_TOKEN_LIFETIME_SECONDS, type BrokerConfig } from './types';
import { validatorFor } from './validators';

export interface LoadConfigOptions {
  /** Shown in every problem (`file:line:col`). */
  readonly fileName: string;
  /** For `${VAR}` interpolation. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly providers: ProviderRegistry;
  /**
   * Reads `policy.active`/`policy.observe` (a file or a folder of *.cedar, as written in
   * the config: the reader resolves it against the config's folder). Without one, a
   * config with policy files is refused.
   */
  readonly readPolicies?: PolicyReader;
}

export interface LoadedConfig {
  readonly config: BrokerConfig;
  /** Non-fatal findings (risky but valid settings), located like errors. */
  readonly warnings: readonly ConfigIssue[];
  /** The policy sets, parsed and validated once per load (absent without `policy:`). */
  readonly policies?: LoadedPolicies;
}

/**
 * Parses, interpolates and validates a config file's text. Every problem found is
 * reported at once, each with file, line, column and field path.
 */
export function loadConfig(text: string, options: LoadConfigOptions): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, merge: false });
  const locate = (problems: readonly ConfigProblem[]) => problems.map((p) => issueAt(doc, lineCounter, options.fileName, p));

  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((err) => {
        const pos = err.linePos?.[0] ?? lineCounter.linePos(err.pos[0]);
        return { file: options.fileName, line: pos.line, column: pos.col, path: '', message: err.message.split('\n')[0] };
      }),
    );
  }
  if (!isMap(doc.contents)) {
    throw new ConfigError(locate([{ path: [], message: 'the config must be a YAML mapping' }]));
  }

  const tagProblems = tagErrors(doc);
  if (tagProblems.length > 0) {
    throw new ConfigError(tagProblems.map(({ offset, message }) => ({ file: options.fileName, line: lineCounter.linePos(offset).line, column: lineCounter.linePos(offset).col, path: '', message })));
  }

  const inlineSecret = isInlineString(doc, ['brokerIdp', 'clientSecret']);
  const interpolationProblems = interpolateEnv(doc, options.env);
  if (interpolationProblems.length > 0) throw new ConfigError(locate(interpolationProblems));

  const raw = doc.toJS({ maxAliasCount: 50 }) as Record<string, unknown>;
  const schemaProblems = schemaErrors(validatorFor('config', schema), raw, []);
  if (schemaProblems.length > 0) throw new ConfigError(locate(schemaProblems));

  const config = withDefaults(raw, options.providers);
  const providerProblems = providerSchemaErrors(config, options.providers);
  if (providerProblems.length > 0) throw new ConfigError(locate(providerProblems));

  const { errors, warnings } = checkSemantics(config, options.providers);
  if (errors.length > 0) throw new ConfigError(locate(errors));
  if (inlineSecret) {
    warnings.unshift({
      path: ['brokerIdp', 'clientSecret'],
      code: 'inline_secret',
      message: 'is written inline: anyone who can read this file (a repository, a ConfigMap, a log of it) has the secret. Write `clientSecret: ${BROKER_CLIENT_SECRET}` (from the environment) or `clientSecretFile: /run/secrets/broker-client-secret`',
    });
  }
  if (!config.policy) return { config, warnings: locate(warnings) };
  const policies = loadPolicies(config.policy, options.readPolicies);
  if (policies.errors.length > 0) throw new ConfigError([...locate(policies.errors.filter(isProblem)), ...policies.errors.filter(isIssue)]);
  return {
    config,
    warnings: [...locate(warnings), ...locate(policies.warnings.filter(isProblem)), ...policies.warnings.filter(isIssue)],
    policies: policies.loaded,
  };
}

/** The YAML tags that build plain scalars, mappings and lists; every other tag is refused. */
const PLAIN_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((name) => `tag:yaml.org,2002:${name}`));

/**
 * `!!omap`, `!!set`, `!!pairs`, `!!binary`, `!!timestamp` and custom tags build values that
 * are not plain mappings, lists or scalars (a Map passes a schema's `type: object` with no
 * properties at all: `claims: !!omap …` would drop every condition). Refused wherever they stand.
 */
function tagErrors(doc: Document): Array<{ offset: number; message: string }> {
  const problems: Array<{ offset: number; message: string }> = [];
  visit(doc, {
    Node(_key, node) {
      if (node.tag !== undefined && !PLAIN_TAGS.has(node.tag)) {
        const shown = node.tag.startsWith('tag:yaml.org,2002:') ? `!!${node.tag.slice('tag:yaml.org,2002:'.length)}` : node.tag;
        problems.push({ offset: node.range?.[0] ?? 0, message: `YAML tag '${shown}' is not allowed: the config holds plain mappings, lists and scalars only (remove the tag)` });
      }
    },
  });
  return problems;
}

/** True when the scalar at `path` is a string written in the file, not a `${VAR}` reference. */
function isInlineString(doc: Document, path: readonly string[]): boolean {
  const node = doc.getIn(path, true);
  return isScalar(node) && typeof node.value === 'string' && node.value !== '' && !node.value.includes('${');
}

const isIssue = (value: ConfigProblem | ConfigIssue): value is ConfigIssue => 'file' in value;
const isProblem = (value: ConfigProblem | ConfigIssue): value is ConfigProblem => !('file' in value);

function withDefaults(raw: Record<string, unknown>, providers: ProviderRegistry): BrokerConfig {
  const config = raw as unknown as BrokerConfig;
  config.settings = { ...DEFAULT_SETTINGS, ...(raw.settings as object | undefined) };
  for (const idp of config.clientIdps) idp.algorithms ??= ['RS256'];
  if (config.brokerIdp) {
    config.brokerIdp.audienceParam ??= 'audience';
    config.brokerIdp.clientAuthMethod ??= 'client_secret_basic';
  }
  if (config.brokerIdentity) {
    config.brokerIdentity.tokenLifetimeSeconds ??= DEFAULT_TOKEN_LIFETIME_SECONDS;
    // With no broker IdP, the broker's own issuer is the only token source: say so on
    // every provider, so providers' checks read one field (brokerAuth.tokenSource).
    if (!config.brokerIdp) {
      for (const provider of config.accessProviders ?? []) {
        // A self-issued provider (broker-jwt) has no brokerAuth: the broker always signs.
        if (providers.get(provider.type)?.selfIssued === true) continue;
        const brokerAuth = provider.brokerAuth as { tokenSource?: string } | undefined;
        if (brokerAuth?.tokenSource === undefined) provider.brokerAuth = { ...brokerAuth, tokenSource: 'self' };
      }
    }
  }
  return config;
}

function providerSchemaErrors(config: BrokerConfig, providers: ProviderRegistry): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const typeOf = new Map<string, string>();
  config.accessProviders.forEach((provider, index) => {
    const factory = providers.get(provider.type);
    if (!factory) {
      problems.push({ path: ['accessProviders', index, 'type'], message: `unknown provider type '${provider.type}' (known: ${[...providers.keys()].join(', ')})` });
      return;
    }
    typeOf.set(provider.name, provider.type);
    problems.push(...schemaErrors(validatorFor('config', factory.providerSchema), provider, ['accessProviders', index]));
  });
  config.clientIdentities.forEach((identity, index) => {
    for (const [keyName, key] of Object.entries(identity.keys)) {
      const type = typeOf.get(key.provider);
      if (type === undefined) continue; // reported by the semantic checks
      const factory = providers.get(type)!;
      // `tags` belong to the policy step, not the provider: the root schema checks them.
      const providerFields = { ...key };
      delete providerFields.tags;
      problems.push(...schemaErrors(validatorFor('config', factory.keySchema), providerFields, ['clientIdentities', index, 'keys', keyName]));
    }
  });
  return problems;
}

function schemaErrors(validate: ValidateFunction, data: unknown, base: (string | number)[]): ConfigProblem[] {
  if (validate(data)) return [];
  const errors = validate.errors ?? [];
  // A failed oneOf also reports every branch's complaint; keep the one readable message.
  const oneOfPaths = errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath);
  const seen = new Set<string>();
  const problems: ConfigProblem[] = [];
  for (const error of errors) {
    if (error.keyword !== 'oneOf' && oneOfPaths.some((p) => error.instancePath === p || error.instancePath.startsWith(`${p}/`))) continue;
    const path = [...base, ...pointerToPath(error.instancePath, data)];
    const problem = describe(error, path);
    const id = `${formatPath(problem.path)}|${problem.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      problems.push(problem);
    }
  }
  return problems;
}

function describe(error: ErrorObject, path: (string | number)[]): ConfigProblem {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { path, message: `missing required field '${String(params.missingProperty)}'` };
    case 'additionalProperties':
      return { path: [...path, String(params.additionalProperty)], message: 'unknown field' };
    case 'type':
      return { path, message: `must be ${String(params.type).replace(',', ' or ')}` };
    case 'enum':
      return { path, message: `must be one of: ${(params.allowedValues as unknown[]).join(', ')}` };
    case 'oneOf': {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      return { path, message: description ? `must be ${description}` : 'has an invalid shape' };
    }
    case 'propertyNames':
      return { path: [...path, String(params.propertyName)], message: 'is not an allowed name' };
    case 'pattern':
      return { path, message: `must match ${String(params.pattern)}` };
    default:
      return { path, message: error.message ?? 'is invalid' };
  }
}

function pointerToPath(pointer: string, data: unknown): (string | number)[] {
  if (!pointer) return [];
  const path: (string | number)[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const index = Array.isArray(node) ? Number(segment) : NaN;
    path.push(Number.isInteger(index) ? index : segment);
    node = node && typeof node === 'object' ? (node as Record<string, unknown>)[segment] : undefined;
  }
  return path;
}

function issueAt(doc: Document, lineCounter: LineCounter, file: string, problem: ConfigProblem): ConfigIssue {
  const offset = offsetOf(doc, problem.path);
  const pos = lineCounter.linePos(offset);
  return { file, line: pos.line, column: pos.col, path: formatPath(problem.path), message: problem.message, ...(problem.code ? { code: problem.code } : {}) };
}

/** The source offset of the deepest node the path reaches (a key for a mapping entry). */
function offsetOf(doc: Document, path: readonly (string | number)[]): number {
  let node: unknown = doc.contents;
  let offset = isNode(node) ? (node.range?.[0] ?? 0) : 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      offset = isNode(pair.key) ? (pair.key.range?.[0] ?? offset) : offset;
      node = pair.value;
    } else if (node && typeof node === 'object' && 'items' in node && Array.isArray((node as { items: unknown[] }).items)) {
      const item = (node as { items: unknown[] }).items[Number(segment)];
      if (item === undefined) break;
      node = item;
      offset = isNode(item) ? (item.range?.[0] ?? offset) : offset;
    } else {
      break;
    }
  }
  return offset;
}
