import type { ConfigProblem, ProviderRegistry } from '../access/access-provider';
import type { BrokerConfig, KeyConfig } from './types';
import { checkServiceUrl } from './urls';

export interface SemanticFindings {
  readonly errors: ConfigProblem[];
  readonly warnings: ConfigProblem[];
}

/** Cross-references and rules that a JSON Schema cannot express. */
export function checkSemantics(config: BrokerConfig, providers: ProviderRegistry): SemanticFindings {
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const { allowHttpLoopback } = config.settings;
  const url = (value: string | undefined, path: (string | number)[]) => {
    if (value === undefined) return;
    const problem = checkServiceUrl(value, allowHttpLoopback);
    if (problem) errors.push({ path, message: problem });
  };

  if (config.brokerIdp) {
    url(config.brokerIdp.tokenEndpoint, ['brokerIdp', 'tokenEndpoint']);
    url(config.brokerIdp.issuer, ['brokerIdp', 'issuer']);
    const idp = config.brokerIdp;
    if (idp.clientAuthMethod === 'private_key_jwt') {
      if (idp.privateKeyFile === undefined) errors.push({ path: ['brokerIdp'], message: "private_key_jwt needs 'privateKeyFile' (a PKCS#8 PEM)" });
      for (const field of ['clientSecret', 'clientSecretFile'] as const) {
        if (idp[field] !== undefined) errors.push({ path: ['brokerIdp', field], message: 'private_key_jwt uses no shared secret: remove it' });
      }
    } else {
      if (idp.privateKeyFile !== undefined) errors.push({ path: ['brokerIdp', 'privateKeyFile'], message: "needs 'clientAuthMethod: private_key_jwt'" });
      if ((idp.clientSecret === undefined) === (idp.clientSecretFile === undefined)) {
        errors.push({ path: ['brokerIdp'], message: "needs exactly one of 'clientSecret' (as ${ENV_VAR}, never inline) or 'clientSecretFile'" });
      }
    }
  }

  const idpNames = new Set<string>();
  const issuers = new Map<string, string>();
  config.clientIdps.forEach((idp, index) => {
    if (idpNames.has(idp.name)) errors.push({ path: ['clientIdps', index, 'name'], message: `duplicate IdP name '${idp.name}'` });
    idpNames.add(idp.name);
    const other = issuers.get(idp.issuer);
    if (other !== undefined) errors.push({ path: ['clientIdps', index, 'issuer'], message: `issuer is already used by IdP '${other}': the issuer must pick exactly one IdP` });
    issuers.set(idp.issuer, idp.name);
    url(idp.issuer, ['clientIdps', index, 'issuer']);
    url(idp.jwksUri, ['clientIdps', index, 'jwksUri']);
    if (idp.allowAnyAudience === true) {
      if (idp.audience !== undefined) errors.push({ path: ['clientIdps', index, 'allowAnyAudience'], message: "set either 'audience' or 'allowAnyAudience', not both" });
      else warnings.push({ path: ['clientIdps', index, 'allowAnyAudience'], message: 'accepts tokens minted for ANY audience: a token this IdP issued to another service can mint credentials here' });
    } else if (idp.audience === undefined) {
      errors.push({ path: ['clientIdps', index], message: "missing required field 'audience': tokens minted for another service must not be accepted" });
    }
  });
  if (config.default !== undefined && !idpNames.has(config.default)) {
    errors.push({ path: ['default'], message: `names no configured IdP ('${config.default}')` });
  }

  const providerTypes = new Map<string, string>();
  config.accessProviders.forEach((provider, index) => {
    if (providerTypes.has(provider.name)) errors.push({ path: ['accessProviders', index, 'name'], message: `duplicate provider name '${provider.name}'` });
    providerTypes.set(provider.name, provider.type);
    const factory = providers.get(provider.type);
    if (!config.brokerIdp && factory && (factory.usesBrokerToken?.(provider) ?? true)) {
      errors.push({ path: ['accessProviders', index], message: `a ${provider.type} provider presents the broker's own token: the config needs a 'brokerIdp'` });
    }
    for (const field of ['endpoint', 'stsEndpoint', 'iamCredentialsEndpoint', 'authorityHost']) {
      if (typeof provider[field] === 'string') url(provider[field] as string, ['accessProviders', index, field]);
    }
  });

  const keysByProvider = new Map<string, Array<{ path: (string | number)[]; key: KeyConfig }>>();
  config.clientIdentities.forEach((identity, index) => {
    const at = ['clientIdentities', index];
    if ((identity.subject === undefined) === (identity.subjectPattern === undefined)) {
      errors.push({ path: at, message: "needs exactly one of 'subject' (exact) or 'subjectPattern' (glob)" });
    }
    if (!idpNames.has(identity.idp)) errors.push({ path: [...at, 'idp'], message: `names no configured IdP ('${identity.idp}')` });
    for (const [keyName, key] of Object.entries(identity.keys)) {
      const keyPath = [...at, 'keys', keyName];
      const type = providerTypes.get(key.provider);
      if (type === undefined) {
        errors.push({ path: [...keyPath, 'provider'], message: `names no configured access provider ('${key.provider}')` });
        continue;
      }
      const factory = providers.get(type)!;
      for (const [envName, spec] of Object.entries(key.outputs)) {
        if (typeof spec === 'string' && !factory.outputFields.includes(spec)) {
          errors.push({ path: [...keyPath, 'outputs', envName], message: `'${spec}' is not a field of ${type} (one of: ${factory.outputFields.join(', ')})` });
        }
      }
      const provider = config.accessProviders.find((p) => p.name === key.provider)!;
      const bounds = factory.durationBounds(provider, key);
      if (key.maxDuration !== undefined && (key.maxDuration < bounds.min || key.maxDuration > bounds.max)) {
        errors.push({ path: [...keyPath, 'maxDuration'], message: `must be between ${bounds.min} and ${bounds.max} seconds for ${type}` });
      } else if (key.duration !== undefined && (key.duration < bounds.min || key.duration > (key.maxDuration ?? bounds.max))) {
        errors.push({ path: [...keyPath, 'duration'], message: `must be between ${bounds.min} and ${key.maxDuration ?? bounds.max} seconds` });
      }
      const list = keysByProvider.get(key.provider) ?? [];
      list.push({ path: keyPath, key });
      keysByProvider.set(key.provider, list);
    }
  });

  const server = config.server;
  if (server?.headersTimeoutMs !== undefined && server.requestTimeoutMs !== undefined && server.headersTimeoutMs > server.requestTimeoutMs) {
    errors.push({ path: ['server', 'headersTimeoutMs'], message: `must not exceed server.requestTimeoutMs (${server.requestTimeoutMs}): the whole request includes its headers` });
  }

  warnings.push(...lint(config));

  config.accessProviders.forEach((provider, index) => {
    const factory = providers.get(provider.type);
    if (factory?.check) errors.push(...factory.check(provider, ['accessProviders', index], keysByProvider.get(provider.name) ?? []));
  });
  return { errors, warnings };
}

const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
/** Audiences that name another relying party: a token minted for it must not open this broker. */
const FOREIGN_AUDIENCES: ReadonlyArray<[RegExp, string]> = [
  [/^sts\.amazonaws\.com$/, 'AWS STS'],
  [/^api:\/\/AzureADTokenExchange$/, 'Azure federated credentials'],
  [/^\/\/iam\.googleapis\.com\//, 'GCP workload identity federation'],
  [/^https:\/\/iam\.googleapis\.com\//, 'GCP workload identity federation'],
];

/** An org-wide pattern is fine when a reusable workflow (or one repository) is pinned. */
function pinsWorkflow(claims: Readonly<Record<string, unknown>> | undefined): boolean {
  return claims !== undefined && ['job_workflow_ref', 'repository_id', 'project_id', 'ci_config_ref_uri'].some((name) => Object.hasOwn(claims, name));
}

/** Risky but valid settings: reported as warnings at load and by `voidkey config validate`. */
export function lint(config: BrokerConfig): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  const idps = new Map(config.clientIdps.map((idp) => [idp.name, idp]));
  config.clientIdps.forEach((idp, index) => {
    const audiences = idp.audience === undefined ? [] : Array.isArray(idp.audience) ? idp.audience : [idp.audience];
    for (const audience of audiences) {
      const foreign = FOREIGN_AUDIENCES.find(([pattern]) => pattern.test(audience));
      if (foreign) warnings.push({ path: ['clientIdps', index, 'audience'], message: `'${audience}' is the audience of ${foreign[1]}: use one that names this broker, so tokens minted for others cannot be replayed here` });
    }
    if (idp.issuer.startsWith('http:')) warnings.push({ path: ['clientIdps', index, 'issuer'], message: 'plain http issuer: acceptable for a local setup only' });
  });
  config.clientIdentities.forEach((identity, index) => {
    const at = ['clientIdentities', index];
    const pattern = identity.subjectPattern;
    if (pattern !== undefined) {
      if (/^[*:]*$/.test(pattern)) {
        warnings.push({ path: [...at, 'subjectPattern'], message: `'${pattern}' matches every subject of the IdP` });
      } else if (pattern.includes('**')) {
        warnings.push({ path: [...at, 'subjectPattern'], message: `'**' crosses ':' boundaries: '${pattern}' may match every repository, branch, environment and pull request under its prefix` });
      } else if ((/^repo:[^/:]+\/\*(:|$)/.test(pattern) || /^project_path:[^:]+\/\*(:|$)/.test(pattern)) && !pinsWorkflow(identity.claims)) {
        warnings.push({ path: [...at, 'subjectPattern'], message: `'${pattern}' matches every repository of the organisation` });
      }
    }
    const idp = idps.get(identity.idp);
    if (idp?.issuer.startsWith(GITHUB_ISSUER)) {
      const claims = identity.claims ?? {};
      if (!Object.hasOwn(claims, 'repository_id') && !Object.hasOwn(claims, 'repository_owner_id')) {
        warnings.push({ path: at, message: 'GitHub identity pins neither repository_id nor repository_owner_id: a deleted repository or organisation name can be registered again by someone else' });
      }
    }
  });
  return warnings;
}
