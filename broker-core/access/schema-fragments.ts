/**
 * JSON Schema pieces every provider's key and provider schemas share. The core reads
 * these fields itself (outputs, durations, brokerAuth), so it owns their shape.
 * Dependency-free: the CLI bundles it for `voidkey config validate`.
 */
export const outputsSchema = {
  type: 'object',
  minProperties: 1,
  additionalProperties: {
    oneOf: [
      { type: 'string', minLength: 1 },
      { type: 'object', additionalProperties: false, required: ['value'], properties: { value: { type: 'string' } } },
    ],
    description: 'a provider field name or {value: "static text"}',
  },
} as const;

/**
 * Voidkey's `brokerAuth`: the broker token's audience for this provider, and what it must carry.
 * `tokenSource`: `broker-oidc` (the token of `brokerIdp`, the default when one is configured)
 * or `self` (a per-mint token signed by `brokerIdentity`); `jwksUri` (else
 * brokerIdp.jwksUri) is the key set the broker's own token must verify against.
 */
export const brokerAuthSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    audience: { type: 'string', minLength: 1 },
    expectedIssuer: { type: 'string', minLength: 1 },
    expectedAudience: { type: 'string', minLength: 1 },
    tokenSource: { enum: ['broker-oidc', 'self'] },
    jwksUri: { type: 'string', minLength: 1 },
  },
} as const;

export const durationSchema = { type: 'integer', minimum: 1 } as const;
