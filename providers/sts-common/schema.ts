/** JSON Schema fragments shared by the STS-speaking providers. */
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

export const roleArnSchema = { type: 'string', pattern: '^arn:[\\w+=/,.@:-]{16,2044}$' } as const;

export const policySchema = {
  oneOf: [{ type: 'string', minLength: 2, maxLength: 2048 }, { type: 'object' }],
  description: 'an IAM policy document, as a JSON string or a YAML mapping',
} as const;

export const brokerAuthSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    audience: { type: 'string', minLength: 1 },
    expectedIssuer: { type: 'string', minLength: 1 },
    expectedAudience: { type: 'string', minLength: 1 },
  },
} as const;

export const durationSchema = { type: 'integer', minimum: 1 } as const;
