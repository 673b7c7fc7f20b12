/**
 * Help for people editing a config: a `description` (and where it helps, `examples`) for
 * every field, which `configJsonSchema()` lays over the loader's own schemas so editors
 * show it on hover. Annotations only: what is valid is decided by the loader's schemas
 * alone. Paths: `a.b` a property, `a[]` an array's items, `a.*` a map's values.
 * A test holds every field to a description and every path here to a real field.
 */
export interface FieldHelp {
  readonly description: string;
  readonly examples?: readonly unknown[];
}

type HelpTable = Readonly<Record<string, FieldHelp | string>>;

const DURATION = 'seconds; requests may ask for less (or up to maxDuration), within the provider\'s bounds';

export const CONFIG_HELP: HelpTable = {
  '': 'A Voidkey broker config: the IdPs it trusts, the clouds it mints for, and which tokens get which keys. Check it with `voidkey config validate FILE`.',
  settings: 'Broker-wide limits and timings.',
  'settings.allowHttpLoopback': { description: 'Local/test setting: allow plain-http issuer, JWKS, token and provider URLs on loopback hosts without a warning. Other hosts always need https.', examples: [true] },
  'settings.upstreamTimeoutMs': { description: 'Each upstream call (JWKS, broker token, cloud) gives up after this many milliseconds. Default 10000.', examples: [10000] },
  'settings.clockSkewSeconds': { description: 'Leeway for exp, nbf and iat. Default 30.', examples: [30] },
  'settings.maxTokenBytes': { description: 'Tokens larger than this are refused unparsed (401 token_too_large). Default 16384.', examples: [16384] },
  'settings.jwksCacheSeconds': { description: 'How long an IdP\'s key set is used before it is fetched again. Default 600.', examples: [600] },
  'settings.jwksRefetchCooldownSeconds': { description: 'An unknown kid refetches the key set at most this often per IdP. Default 30.', examples: [30] },
  server: 'How the broker process serves: audit sinks, rate limits, CORS.',
  'server.audit': 'Where each request\'s audit event (one JSON line, never a token or secret) goes.',
  'server.audit.stdout': { description: 'Write audit events to standard output. Default true.', examples: [true] },
  'server.audit.file': { description: 'Append audit events (JSON lines) to this file.', examples: ['/var/log/voidkey/audit.jsonl'] },
  'server.audit.failClosed': { description: 'When no audit sink can write, refuse mints (503 audit_unavailable) instead of minting unaudited.', examples: [true] },
  'server.audit.signingKeyFile': { description: 'Ed25519 private key (PKCS#8 PEM): each audit record is signed and chained; `voidkey audit verify` checks the chain.', examples: ['/etc/voidkey/audit-ed25519.pem'] },
  'server.rateLimit': 'Per-client token bucket on the credential routes (429 rate_limited).',
  'server.rateLimit.requestsPerMinute': { description: 'Sustained requests per minute per client address.', examples: [600] },
  'server.rateLimit.burst': { description: 'Requests a client may send at once above the sustained rate. Default: requestsPerMinute / 6.', examples: [100] },
  'server.rateLimit.maxClients': { description: 'Memory bound: the least recently seen clients are dropped past this many. Default 10000.', examples: [10000] },
  'server.cors': 'Browser origins allowed to call the broker.',
  'server.cors.origins': { description: 'Exact origins (scheme://host[:port]).', examples: [['https://portal.example.com']] },
  'server.cors.origins[]': 'An origin: scheme://host[:port], no path.',
  'server.trustProxy': { description: 'Take the client address from X-Forwarded-For (only behind a proxy you run).', examples: [false] },
  brokerIdp: 'How the broker authenticates itself to providers that take its own OIDC token (client credentials at this IdP).',
  'brokerIdp.name': { description: 'A name for logs and metrics.', examples: ['broker-keycloak'] },
  'brokerIdp.issuer': { description: 'The IdP\'s issuer URL (https).', examples: ['https://idp.example.com/realms/broker'] },
  'brokerIdp.audience': { description: 'The audience the broker asks its token for (providers may override with brokerAuth.audience).', examples: ['voidkey-broker'] },
  'brokerIdp.audienceParam': { description: 'How the audience is sent: `audience` (as Voidkey does) or `resource` (RFC 8707).', examples: ['audience'] },
  'brokerIdp.clientId': { description: 'The broker\'s client id at the IdP.', examples: ['broker-service'] },
  'brokerIdp.clientSecret': { description: 'The client secret; write it as ${VAR} so it comes from the environment.', examples: ['${BROKER_CLIENT_SECRET}'] },
  'brokerIdp.clientAuthMethod': { description: '`client_secret_basic` (default), `client_secret_post` or `private_key_jwt` (RFC 7523: no shared secret).', examples: ['client_secret_basic'] },
  'brokerIdp.algorithms[]': 'An asymmetric JWS algorithm.',
  'brokerIdp.tokenEndpoint': { description: 'The IdP\'s token endpoint (https).', examples: ['https://idp.example.com/realms/broker/protocol/openid-connect/token'] },
  'brokerIdp.scope': { description: 'Scope to request with the client-credentials grant.', examples: ['openid'] },
  'brokerIdp.clientSecretFile': { description: 'Read the client secret from this file (e.g. a mounted secret) instead of clientSecret.', examples: ['/var/run/secrets/voidkey/client-secret'] },
  'brokerIdp.privateKeyFile': { description: 'private_key_jwt: the PKCS#8 PEM key that signs the client assertion.', examples: ['/etc/voidkey/broker-client.pem'] },
  'brokerIdp.privateKeyAlg': { description: 'private_key_jwt: the assertion\'s algorithm.', examples: ['RS256'] },
  'brokerIdp.keyId': { description: 'private_key_jwt: the kid the IdP knows the key by.', examples: ['broker-2026'] },
  'brokerIdp.description': 'Free text for people.',
  clientIdps: 'The issuers whose tokens the broker accepts; a token\'s iss picks one (no network I/O for an unknown issuer).',
  'clientIdps[]': 'A trusted issuer.',
  'clientIdps[].name': { description: 'Identities refer to the IdP by this name.', examples: ['github-actions'] },
  'clientIdps[].issuer': { description: 'Must equal the token\'s iss exactly (https).', examples: ['https://token.actions.githubusercontent.com'] },
  'clientIdps[].audience': { description: 'The aud the token must carry: a string, or a list (any of).', examples: ['https://broker.example.com', ['https://broker.example.com', 'voidkey']] },
  'clientIdps[].jwksUri': { description: 'Where the signing keys are; default: from the issuer\'s discovery document.', examples: ['https://token.actions.githubusercontent.com/.well-known/jwks'] },
  'clientIdps[].algorithms': { description: 'Signature algorithms accepted; default [RS256]. none and HMAC never are.', examples: [['RS256']] },
  'clientIdps[].algorithms[]': 'An asymmetric JWS algorithm.',
  'clientIdps[].description': 'Free text for people.',
  'clientIdps[].maxTokenLifetimeSeconds': { description: 'Tokens whose exp - iat exceeds this are refused. Default 86400.', examples: [3600] },
  'clientIdps[].allowAnyAudience': { description: 'Accept any aud (warns at load). Default false.', examples: [false] },
  'clientIdps[].staleKeysSeconds': { description: 'While the IdP is unreachable, keep using its last key set this long. Default 86400.', examples: [86400] },
  accessProviders: 'The clouds the broker mints for.',
  'accessProviders[]': 'An access provider; `type` says which fields it takes.',
  'accessProviders[].name': { description: 'Keys refer to the provider by this name.', examples: ['aws-prod'] },
  'accessProviders[].type': { description: 'aws-sts, minio-sts, gcp, azure or broker-jwt.', examples: ['aws-sts'] },
  clientIdentities: 'Which tokens get which keys: an identity matches a token by IdP, subject and claims, and grants its keys.',
  'clientIdentities[]': 'An identity.',
  'clientIdentities[].name': { description: 'Named in the audit event.', examples: ['app-deploy-main'] },
  'clientIdentities[].subject': { description: 'The token\'s sub, exactly (or use subjectPattern).', examples: ['repo:acme/app:ref:refs/heads/main'] },
  'clientIdentities[].subjectPattern': { description: 'An anchored, case-sensitive glob on sub: * matches any run except `:`, ** any run.', examples: ['repo:acme/app:ref:refs/heads/release-*'] },
  'clientIdentities[].idp': { description: 'The clientIdps name whose tokens this identity matches.', examples: ['github-actions'] },
  'clientIdentities[].claims': { description: 'Typed equality on claims: a YAML string matches only a JSON string, a number only a number; a list means any of.', examples: [{ repository_id: '123456' }] },
  'clientIdentities[].claimPatterns': { description: 'Anchored globs on string claims.', examples: [{ ref: 'refs/heads/release-*' }] },
  'clientIdentities[].keys': 'Key name → what to mint. The key name is what `voidkey mint --keys` asks for.',
  'clientIdentities[].keys.*': 'A key: the provider to mint with, its fields, and the outputs (environment variable → provider field).',
  'clientIdentities[].keys.*.provider': { description: 'The accessProviders name this key mints with.', examples: ['aws-prod'] },
  'clientIdentities[].keys.*.duration': { description: `Default lifetime in ${DURATION}.`, examples: [900] },
  'clientIdentities[].keys.*.maxDuration': { description: 'The longest lifetime a request may ask for, in seconds.', examples: [3600] },
  'clientIdentities[].keys.*.outputs': { description: 'Environment variable → provider field (e.g. AccessKeyId), or {value: "static text"}.', examples: [{ AWS_ACCESS_KEY_ID: 'AccessKeyId', AWS_REGION: { value: 'us-east-1' } }] },
  default: { description: 'The default IdP\'s name (accepted for Voidkey compatibility).', examples: ['github-actions'] },
  brokerIdentity: 'The broker as its own OIDC issuer (docs/issuer.md): it signs one short-lived token per mint and publishes the keys, so clouds trust the broker directly.',
  'brokerIdentity.issuer': { description: 'The issuer URL clouds trust (https; the broker serves /.well-known/openid-configuration and /.well-known/jwks.json under it).', examples: ['https://broker.example.com'] },
  'brokerIdentity.signingKeys': 'PEM private keys (RSA ≥ 2048 or EC P-256, mode 0600): the first signs, every one is published (rotation: publish, promote, retire).',
  'brokerIdentity.signingKeys[]': 'A signing key file.',
  'brokerIdentity.signingKeys[].file': { description: 'Path of the PEM private key (not group- or world-readable).', examples: ['/etc/voidkey/keys/current.pem'] },
  'brokerIdentity.tokenLifetimeSeconds': { description: 'Lifetime of each per-mint token, 60 to 3600. Default 300.', examples: [300] },
  policy: 'Guardrails (docs/policy.md): Cedar policies and an optional external PDP can only take away keys the identities grant.',
  'policy.pdp': 'An external PDP (OpenID AuthZEN 1.0 access evaluation) asked for every key; no answer, an error or a bad body means nothing is minted.',
  'policy.pdp.url': { description: 'The PDP\'s access evaluation endpoint (https).', examples: ['https://pdp.internal/access/v1/evaluation'] },
  'policy.pdp.timeoutMs': { description: 'How long to wait for the PDP before failing closed (503 policy_unavailable). Default 300.', examples: [300] },
};

const BROKER_AUTH: HelpTable = {
  brokerAuth: 'What the broker\'s own token carries for this provider.',
  'brokerAuth.audience': { description: 'The broker token\'s audience for this provider.', examples: ['sts.amazonaws.com'] },
  'brokerAuth.tokenSource': { description: 'Where the broker\'s token comes from: `broker-oidc` (client credentials at brokerIdp, Voidkey\'s value) or `self` (signed per mint by brokerIdentity).', examples: ['self'] },
  'brokerAuth.jwksUri': { description: 'Voidkey compatibility: the key set the broker\'s own token must verify against before it is presented.', examples: ['https://idp.example.com/realms/broker/protocol/openid-connect/certs'] },
  'brokerAuth.expectedIssuer': 'Voidkey compatibility: the issuer the broker\'s token must have.',
  'brokerAuth.expectedAudience': 'Voidkey compatibility: the audience the broker\'s token must have.',
};

const COMMON_KEY: HelpTable = {
  provider: { description: 'The accessProviders name this key mints with.', examples: ['aws-prod'] },
  duration: { description: `Default lifetime in ${DURATION}.`, examples: [900] },
  maxDuration: { description: 'The longest lifetime a request may ask for, in seconds.', examples: [3600] },
  outputs: { description: 'Environment variable → provider field, or {value: "static text"}.', examples: [{ AWS_ACCESS_KEY_ID: 'AccessKeyId' }] },
};

const COMMON_PROVIDER: HelpTable = {
  name: { description: 'Keys refer to the provider by this name.', examples: ['aws-prod'] },
};

/** Per provider type: help for its provider fields and its key fields. */
export const PROVIDER_HELP: Readonly<Record<string, { provider: HelpTable; key: HelpTable }>> = {
  'aws-sts': {
    provider: {
      ...COMMON_PROVIDER,
      ...BROKER_AUTH,
      description: 'Free text for people.',
      type: 'AWS STS: AssumeRoleWithWebIdentity with the broker\'s token, or AssumeRole with its own AWS credentials (auth: ambient).',
      auth: { description: '`web-identity` (default) or `ambient` (the broker\'s own AWS credentials; role chaining caps sessions at 3600 s).', examples: ['web-identity'] },
      endpoint: { description: 'STS endpoint (https); wins over AWS_ENDPOINT_URL_STS.', examples: ['https://sts.us-east-1.amazonaws.com'] },
      region: { description: 'AWS region of the STS endpoint.', examples: ['us-east-1'] },
      roleArn: { description: 'Voidkey compatibility: the role of keys that name none (a key\'s own roleArn wins).', examples: ['arn:aws:iam::111122223333:role/deploy'] },
      defaultDuration: { description: 'Session lifetime (seconds) for keys that set none.', examples: [900] },
    },
    key: {
      ...COMMON_KEY,
      description: 'Free text for people.',
      roleArn: { description: 'The role to assume.', examples: ['arn:aws:iam::111122223333:role/deploy'] },
      policy: { description: 'A session policy narrowing the role: JSON text or a YAML mapping (≤ 2048 characters packed).', examples: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] }] },
      policyArns: { description: 'Managed policies narrowing the session (at most 10).', examples: [['arn:aws:iam::aws:policy/ReadOnlyAccess']] },
      'policyArns[]': 'A managed policy ARN.',
      externalId: { description: 'auth: ambient only: the role\'s external id.', examples: ['voidkey-broker-7f3a'] },
      sessionTags: { description: 'auth: ambient, or tokenSource: self (as principal tags in the token): session tags; values may use ${claims.NAME}.', examples: [{ repo: '${claims.repository}' }] },
      transitiveTagKeys: { description: 'auth: ambient, or tokenSource: self: which sessionTags survive role chaining.', examples: [['repo']] },
      'transitiveTagKeys[]': 'A sessionTags key.',
      sourceIdentity: { description: 'auth: ambient, or tokenSource: self: the session\'s source identity; may use ${claims.NAME}.', examples: ['${claims.actor}'] },
      roleSessionName: { description: 'Template for the session name (always derived valid).', examples: ['voidkey-${claims.repository_id}'] },
    },
  },
  'minio-sts': {
    provider: {
      ...COMMON_PROVIDER,
      ...BROKER_AUTH,
      description: 'Free text for people.',
      type: 'MinIO STS: AssumeRoleWithWebIdentity against a MinIO server.',
      endpoint: { description: 'The MinIO server (https).', examples: ['https://minio.example.com'] },
      region: { description: 'The MinIO region.', examples: ['us-east-1'] },
      roleArn: { description: 'Voidkey compatibility: the RoleArn of keys that name none (a key\'s own roleArn wins).', examples: ['arn:minio:iam:::role/ci-artifacts'] },
      defaultDuration: { description: 'Session lifetime (seconds) for keys that set none.', examples: [900] },
    },
    key: {
      ...COMMON_KEY,
      description: 'Free text for people.',
      roleArn: { description: 'A role-policy provider\'s role ARN.', examples: ['arn:minio:iam:::role/ci-artifacts'] },
      role: { description: 'Voidkey\'s spelling: an ARN is sent as the RoleArn; a role or policy name is not sent (a warning says what MinIO applies instead).', examples: ['arn:minio:iam:::role/ci-artifacts'] },
      policy: { description: 'A session policy (JSON text or YAML mapping), or a policy name.', examples: ['readwrite'] },
    },
  },
  gcp: {
    provider: {
      ...COMMON_PROVIDER,
      ...BROKER_AUTH,
      type: 'Google Cloud: workload identity federation (STS), then a service account\'s access token.',
      workloadIdentityProvider: { description: 'The pool provider\'s full resource name.', examples: ['//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci-pool/providers/voidkey'] },
      stsEndpoint: { description: 'Override of Google\'s STS token endpoint.', examples: ['https://sts.googleapis.com/v1/token'] },
      iamCredentialsEndpoint: { description: 'Override of the IAM Credentials API.', examples: ['https://iamcredentials.googleapis.com'] },
      defaultDuration: { description: 'Token lifetime (seconds) for keys that set none.', examples: [3600] },
    },
    key: {
      ...COMMON_KEY,
      serviceAccount: { description: 'The service account to impersonate (email).', examples: ['deployer@my-project.iam.gserviceaccount.com'] },
      scopes: { description: 'OAuth scopes of the access token.', examples: [['https://www.googleapis.com/auth/cloud-platform']] },
      'scopes[]': 'An OAuth scope.',
      extendedLifetime: { description: 'Allow durations up to 43200 s (needs the org policy constraints/iam.allowServiceAccountCredentialLifetimeExtension).', examples: [false] },
      projectId: { description: 'The ProjectId output; default: the service account\'s project.', examples: ['my-project'] },
      delegates: { description: 'Delegation chain of service accounts.', examples: [['intermediate@my-project.iam.gserviceaccount.com']] },
      'delegates[]': 'A service account email.',
    },
  },
  'broker-jwt': {
    provider: {
      ...COMMON_PROVIDER,
      type: 'A token signed by the broker\'s own issuer (brokerIdentity) for another service that trusts it.',
      description: 'Free text for people.',
      defaultDuration: { description: 'Token lifetime (seconds, 60-3600) for keys that set none.', examples: [300] },
    },
    key: {
      ...COMMON_KEY,
      audience: { description: 'The token\'s aud: the service that trusts the broker\'s issuer.', examples: ['vault.example.com'] },
      claims: { description: 'Extra claims: name → ${claims.NAME} template or literal text; registered claims cannot be set.', examples: [{ repository: '${claims.repository}' }] },
    },
  },
  azure: {
    provider: {
      ...COMMON_PROVIDER,
      ...BROKER_AUTH,
      type: 'Microsoft Entra ID: federated client assertion with the broker\'s token.',
      tenantId: { description: 'The Entra tenant (GUID).', examples: ['00000000-0000-0000-0000-000000000000'] },
      authorityHost: { description: 'Override of the Entra authority.', examples: ['https://login.microsoftonline.com'] },
      caFile: { description: 'Extra CA certificates (PEM) for the authority host.', examples: ['/etc/voidkey/ca.pem'] },
    },
    key: {
      ...COMMON_KEY,
      clientId: { description: 'The app registration (GUID) whose federated credential trusts the broker.', examples: ['11111111-1111-1111-1111-111111111111'] },
      scope: { description: 'The resource\'s .default scope.', examples: ['https://management.azure.com/.default'] },
      tenantId: { description: 'Override of the provider\'s tenant for this key.', examples: ['00000000-0000-0000-0000-000000000000'] },
    },
  },
};
