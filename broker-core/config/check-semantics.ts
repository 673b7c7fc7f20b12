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
    if (config.brokerIdp.clientSecret === undefined) {
      errors.push({ path: ['brokerIdp'], message: "missing required field 'clientSecret' (write it as ${ENV_VAR}, never inline)" });
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

  config.accessProviders.forEach((provider, index) => {
    const factory = providers.get(provider.type);
    if (factory?.check) errors.push(...factory.check(provider, ['accessProviders', index], keysByProvider.get(provider.name) ?? []));
  });
  return { errors, warnings };
}
