import type { AccessProviderFactory, ConfigProblem, ProviderRegistry } from '../access/access-provider';
import type { BrokerConfig, KeyConfig } from './types';
import { checkServiceUrl, isHttpLoopbackUrl } from './urls';

export interface SemanticFindings {
  readonly errors: ConfigProblem[];
  readonly warnings: ConfigProblem[];
}

/** Cross-references and rules that a JSON Schema cannot express. */
export function checkSemantics(config: BrokerConfig, providers: ProviderRegistry): SemanticFindings {
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const { allowHttpLoopback } = config.settings;
  // Plain http to a non-loopback host is refused everywhere; to loopback it loads, with a
  // warning unless the config marks itself a local setup.
  const url = (value: string | undefined, path: (string | number)[]) => {
    if (value === undefined) return;
    const problem = checkServiceUrl(value, true);
    if (problem) errors.push({ path, message: problem });
    else if (!allowHttpLoopback && isHttpLoopbackUrl(value)) {
      warnings.push({ path, code: 'http_loopback', message: 'plain http to a loopback host: acceptable for a local setup only. Use https, or mark the config as a local setup with `settings: {allowHttpLoopback: true}` (which silences this warning)' });
    }
  };

  url(config.policy?.pdp?.url, ['policy', 'pdp', 'url']);

  if (config.brokerIdentity) {
    // The issuer is what clouds are told to trust: plain http only in a config marked local.
    const problem = checkServiceUrl(config.brokerIdentity.issuer, allowHttpLoopback);
    if (problem) errors.push({ path: ['brokerIdentity', 'issuer'], message: problem });
    else if (/[?#]/.test(config.brokerIdentity.issuer)) errors.push({ path: ['brokerIdentity', 'issuer'], message: 'must not carry a query or a fragment (OpenID Connect Discovery 1.0, section 3)' });
    else if (config.brokerIdentity.issuer.endsWith('/')) errors.push({ path: ['brokerIdentity', 'issuer'], message: "must not end with '/': clouds compare the issuer as an exact string, and the discovery document lives under it" });
  }

  if (config.brokerIdp) {
    url(config.brokerIdp.tokenEndpoint, ['brokerIdp', 'tokenEndpoint']);
    url(config.brokerIdp.issuer, ['brokerIdp', 'issuer']);
    url(config.brokerIdp.jwksUri, ['brokerIdp', 'jwksUri']);
    const idp = config.brokerIdp;
    // Voidkey's jwksUri is honoured: the broker's own token must verify against it (and
    // `algorithms`) before its iss/aud are checked. Algorithms with no key set to use them on say so.
    const anyJwksUri = idp.jwksUri !== undefined || config.accessProviders.some((p) => typeof (p.brokerAuth as { jwksUri?: unknown } | undefined)?.jwksUri === 'string');
    if (idp.algorithms !== undefined && !anyJwksUri) {
      warnings.push({
        path: ['brokerIdp', 'algorithms'],
        code: 'algorithms_unused',
        message: "is not used without a key set: the broker verifies its own token only against brokerIdp.jwksUri (or a provider's brokerAuth.jwksUri). Add `jwksUri: <the IdP's JWKS URL>`, or remove algorithms",
      });
    }
    if (idp.validateAudience === false) {
      warnings.push({
        path: ['brokerIdp', 'validateAudience'],
        code: 'validate_audience_ignored',
        message: "false is not honoured: every provider's brokerAuth.expectedAudience is still checked against the broker's token. To stop checking it, remove `expectedAudience` from that provider's brokerAuth (and remove validateAudience)",
      });
    }
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
      else warnings.push({ path: ['clientIdps', index, 'allowAnyAudience'], code: 'any_audience', message: 'accepts tokens minted for ANY audience: a token this IdP issued to another service can mint credentials here' });
    } else if (idp.audience === undefined) {
      const hint = idp.validateAudience === false ? " ('validateAudience: false' does not opt out: write 'allowAnyAudience: true' to accept any audience)" : '';
      errors.push({ path: ['clientIdps', index], message: `missing required field 'audience': tokens minted for another service must not be accepted${hint}` });
    } else if (idp.validateAudience === false) {
      // Voidkey's sandbox turns the check off; here it stays on until the config says so explicitly.
      warnings.push({
        path: ['clientIdps', index, 'validateAudience'],
        code: 'validate_audience_ignored',
        message: "false is not honoured while 'audience' is set: tokens must still carry that audience. To accept tokens for any audience, remove 'audience' and 'validateAudience' and write `allowAnyAudience: true`",
      });
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
    if (factory && (factory.usesBrokerToken?.(provider) ?? true)) errors.push(...checkTokenSource(config, provider, index, factory));
    for (const field of ['endpoint', 'stsEndpoint', 'iamCredentialsEndpoint', 'authorityHost']) {
      if (typeof provider[field] === 'string') url(provider[field] as string, ['accessProviders', index, field]);
    }
    const brokerAuth = provider.brokerAuth as { jwksUri?: unknown } | undefined;
    if (typeof brokerAuth?.jwksUri === 'string') {
      url(brokerAuth.jwksUri, ['accessProviders', index, 'brokerAuth', 'jwksUri']);
    }
  });

  const keysByProvider = new Map<string, Array<{ path: (string | number)[]; key: KeyConfig }>>();
  config.clientIdentities.forEach((identity, index) => {
    const at = ['clientIdentities', index];
    if ((identity.subject === undefined) === (identity.subjectPattern === undefined)) {
      errors.push({ path: at, message: "needs exactly one of 'subject' (exact) or 'subjectPattern' (glob)" });
    }
    if (!idpNames.has(identity.idp)) errors.push({ path: [...at, 'idp'], message: `names no configured IdP ('${identity.idp}')` });
    errors.push(...checkClaimConditions(identity.claims, [...at, 'claims']));
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
    if (factory?.lint) warnings.push(...factory.lint(provider, ['accessProviders', index], keysByProvider.get(provider.name) ?? []));
  });
  return { errors, warnings };
}

/** Which token a provider presents, and whether the config has what that source needs. */
function checkTokenSource(config: BrokerConfig, provider: BrokerConfig['accessProviders'][number], index: number, factory: AccessProviderFactory): ConfigProblem[] {
  const at = ['accessProviders', index];
  const brokerAuth = provider.brokerAuth as { tokenSource?: string; audience?: string; jwksUri?: string } | undefined;
  if (factory.selfIssued === true) {
    return config.brokerIdentity ? [] : [{ path: at, message: `a ${provider.type} provider's tokens are signed by the broker's own issuer: the config needs a 'brokerIdentity'` }];
  }
  if (brokerAuth?.tokenSource === 'self') {
    const problems: ConfigProblem[] = [];
    if (!config.brokerIdentity) problems.push({ path: [...at, 'brokerAuth', 'tokenSource'], message: "self needs a 'brokerIdentity' (the broker's own issuer and signing keys)" });
    if (brokerAuth.audience === undefined && factory.selfAudience?.(provider) === undefined) {
      problems.push({ path: [...at, 'brokerAuth'], message: `tokenSource self needs 'audience': the value the ${provider.type} side expects in the token's aud (e.g. MinIO's OpenID client id)` });
    }
    if (brokerAuth.jwksUri !== undefined) problems.push({ path: [...at, 'brokerAuth', 'jwksUri'], message: "checks a broker IdP's token: with tokenSource self the broker signs the token itself. Remove it" });
    return problems;
  }
  if (!config.brokerIdp) {
    const hint = config.brokerIdentity ? " (or set 'brokerAuth: {tokenSource: self}' to use brokerIdentity)" : " or a 'brokerIdentity'";
    return [{ path: at, message: `a ${provider.type} provider presents the broker's own token: the config needs a 'brokerIdp'${hint}` }];
  }
  return [];
}

/**
 * Claim conditions compare exactly (decision 2). A number beyond 2^53 or with a fraction
 * cannot: YAML and JSON both round it to a double, so two different values would compare
 * equal. An empty string or an empty list is a condition no one meant to write.
 */
function checkClaimConditions(claims: BrokerConfig['clientIdentities'][number]['claims'], at: (string | number)[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [name, condition] of Object.entries(claims ?? {})) {
    const values = Array.isArray(condition) ? condition : [condition];
    if (Array.isArray(condition) && condition.length === 0) {
      problems.push({ path: [...at, name], message: 'an empty list matches no token: list at least one value, or remove the condition' });
    }
    values.forEach((value, i) => {
      const path = Array.isArray(condition) ? [...at, name, i] : [...at, name];
      if (value === '') problems.push({ path, message: "an empty string is not a condition: give the value the claim must have, or remove the condition" });
      if (typeof value === 'number' && !Number.isSafeInteger(value)) {
        problems.push({ path, message: `is not a safe integer (a whole number between -${Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}): larger or fractional numbers are rounded and cannot be compared exactly; match such a claim as a string if the IdP sends one` });
      }
    });
  }
  return problems;
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
      if (foreign) warnings.push({ path: ['clientIdps', index, 'audience'], code: 'foreign_audience', message: `'${audience}' is the audience of ${foreign[1]}: use one that names this broker, so tokens minted for others cannot be replayed here` });
    }
  });
  config.clientIdentities.forEach((identity, index) => {
    const at = ['clientIdentities', index];
    const pattern = identity.subjectPattern;
    if (pattern !== undefined) {
      const broad = broadPattern(pattern, identity.claims);
      if (broad !== undefined) warnings.push({ path: [...at, 'subjectPattern'], code: 'broad_pattern', message: broad });
    }
    const idp = idps.get(identity.idp);
    if (idp?.issuer.startsWith(GITHUB_ISSUER)) {
      const claims = identity.claims ?? {};
      if (!Object.hasOwn(claims, 'repository_id') && !Object.hasOwn(claims, 'repository_owner_id')) {
        warnings.push({ path: at, code: 'unpinned_repository', message: 'GitHub identity pins neither repository_id nor repository_owner_id: a deleted repository or organisation name can be registered again by someone else' });
      }
    }
  });
  return warnings;
}

const SUBJECT_SHAPES: ReadonlyArray<{ prefix: string; owner: string; owned: string }> = [
  { prefix: 'repo:', owner: 'organisation', owned: 'repository' }, // GitHub Actions
  { prefix: 'project_path:', owner: 'group', owned: 'project' }, // GitLab CI
];
const K8S_PREFIX = 'system:serviceaccount:';

/**
 * Why a subject pattern is too broad, for every issuer shape the presets cover (GitHub,
 * GitLab, Kubernetes, generic OIDC), or undefined. Names are first come, first served:
 * a glob over an organisation, group or namespace name lets whoever registers a matching
 * name in.
 */
export function broadPattern(pattern: string, claims: Readonly<Record<string, unknown>> | undefined): string | undefined {
  if (/^[*:]*$/.test(pattern)) return `'${pattern}' matches every subject of the IdP`;
  if (pattern.includes('**')) return `'**' crosses ':' boundaries: '${pattern}' may match every repository, branch, environment and pull request under its prefix`;
  for (const shape of SUBJECT_SHAPES) {
    if (!pattern.startsWith(shape.prefix)) continue;
    if (pinsWorkflow(claims)) return undefined;
    const [owner = '', ...rest] = pattern.slice(shape.prefix.length).split(':')[0]!.split('/');
    if (owner.includes('*')) return `'${pattern}' matches every ${shape.owned} of every ${shape.owner} whose name matches '${owner}': anyone can register such a name. Name the ${shape.owner}, and pin it by id in claims`;
    if (rest.some((segment) => segment === '*')) return `'${pattern}' matches every ${shape.owned} of the ${shape.owner}`;
    if (rest.some((segment) => segment.includes('*'))) return `'${pattern}' matches every ${shape.owned} of the ${shape.owner} whose name matches the glob: anyone who can create a ${shape.owned} there gets these keys`;
    return undefined;
  }
  if (pattern.startsWith(K8S_PREFIX)) {
    const [namespace = '', account = ''] = pattern.slice(K8S_PREFIX.length).split(':');
    if (namespace.includes('*')) return `'${pattern}' matches service accounts of every namespace whose name matches '${namespace}': name the namespace`;
    if (account.includes('*')) return `'${pattern}' matches every service account of namespace '${namespace}': name the service account`;
    return undefined;
  }
  // Generic OIDC (Auth0, Okta, Keycloak…): subjects are opaque ids with no structure a glob can scope.
  if (pattern.includes('*') && !pattern.includes(':') && Object.keys(claims ?? {}).length === 0) {
    return `'${pattern}' matches every user whose opaque id starts alike: list the subjects, or pin a claim (e.g. azp or a group) in claims`;
  }
  return undefined;
}
