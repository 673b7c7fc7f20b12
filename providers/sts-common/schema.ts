/** JSON Schema fragments shared by the STS-speaking providers. */
export { brokerAuthSchema, durationSchema, outputsSchema } from '../../broker-core/access/schema-fragments';

export const roleArnSchema = { type: 'string', pattern: '^arn:[\\w+=/,.@:-]{16,2044}$' } as const;

export const policySchema = {
  oneOf: [{ type: 'string', minLength: 2, maxLength: 2048 }, { type: 'object' }],
  description: 'an IAM policy document, as a JSON string or a YAML mapping',
} as const;

