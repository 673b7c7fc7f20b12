import { RequestInvalid } from '../broker-core';
import { validatorFor } from '../broker-core/config/validators';

export interface MintBody {
  oidcToken?: string;
  keys?: string[];
  all?: boolean;
  duration?: number;
  idpName?: string;
}

const MAX_KEYS = 100;

/** The mint body's JSON Schema: what the route validates with (precompiled by the build like the config's schemas), and what /openapi.json publishes. */
export const MINT_BODY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    oidcToken: { type: 'string' },
    keys: { type: 'array', maxItems: MAX_KEYS, items: { type: 'string', minLength: 1, maxLength: 128 } },
    all: { type: 'boolean' },
    duration: { type: 'integer', minimum: 1, maximum: 31_536_000 },
    idpName: { type: 'string', minLength: 1, maxLength: 128 },
  },
};

let validateMint: ReturnType<typeof validatorFor<MintBody>> | undefined;

/** The strict request schema: unknown fields and wrong types are a 400, said plainly. */
export function parseMintBody(body: unknown): MintBody {
  if (body === undefined || body === null) return {};
  validateMint ??= validatorFor<MintBody>('request', MINT_BODY_SCHEMA);
  if (validateMint(body)) return body;
  const error = validateMint.errors![0]!;
  const field = error.instancePath ? `'${error.instancePath.slice(1).replace(/\//g, '.')}'` : 'the body';
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      throw new RequestInvalid(`unknown field '${String(params.additionalProperty)}' in the request body`);
    case 'type':
      throw new RequestInvalid(`${field} must be ${String(params.type)}`);
    case 'maxItems':
      throw new RequestInvalid(`at most ${MAX_KEYS} keys may be requested at once`);
    default:
      throw new RequestInvalid(`${field} ${error.message ?? 'is invalid'}`);
  }
}
