import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { builtInProviders } from '../../providers';
import { REASONS, type BrokerErrorCode } from '../../broker-core';
import { FRAMEWORK_ERRORS } from '../../broker-server/error-filter';
import { STATUS_BY_CODE } from '../../broker-server/http-status';

const root = join(__dirname, '../..');

describe('docs/api.md', () => {
  const rows = readFileSync(join(root, 'docs/api.md'), 'utf8')
    .split('\n')
    .map((line) => /^\| (\d{3}) \| `([a-z_]+)` \| `(ERR_[A-Z_]+)` \|/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map(([, status, error, code]) => ({ status: Number(status), error, code }));

  it('lists every broker error with its real status and reason', () => {
    const documented = new Map(rows.map((row) => [row.code, row]));
    for (const code of Object.keys(REASONS) as BrokerErrorCode[]) {
      expect({ code, status: documented.get(code)?.status, error: documented.get(code)?.error }).toEqual({
        code,
        status: STATUS_BY_CODE[code],
        error: REASONS[code],
      });
    }
  });

  it("lists every refusal of the HTTP layer (fastify, node:http's parser) with its status and reason", () => {
    const documented = new Map(rows.map((row) => [row.code, row]));
    for (const [status, known] of Object.entries(FRAMEWORK_ERRORS)) {
      expect({ code: known.code, status: documented.get(known.code)?.status, error: documented.get(known.code)?.error }).toEqual({ code: known.code, status: Number(status), error: known.error });
    }
  });

  it('documents no code the broker does not have (besides the framework ones)', () => {
    const framework = new Set(['ERR_PAYLOAD_TOO_LARGE', 'ERR_UNSUPPORTED_MEDIA_TYPE', 'ERR_NOT_FOUND', 'ERR_METHOD_NOT_ALLOWED', 'ERR_CONFIG_INVALID', 'ERR_STARTUP_FAILED', 'ERR_REQUEST_TIMEOUT', 'ERR_HEADERS_TOO_LARGE']);
    for (const row of rows) expect(Object.hasOwn(REASONS, row.code) || framework.has(row.code)).toBe(true);
  });
});

describe('docs/providers examples', () => {
  const registry = builtInProviders();
  const ajv = new Ajv({ allErrors: true, strict: false });
  const dir = join(root, 'docs/providers');
  const files = readdirSync(dir);

  it.each(files)('%s: every YAML example validates against the provider schemas', (file) => {
    const blocks = [...readFileSync(join(dir, file), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      const doc = parse(block) as { accessProviders?: Array<{ name: string; type: string }>; keys?: Record<string, { provider: string }>; clientIdentities?: Array<{ keys: Record<string, { provider: string }> }> };
      const types = new Map((doc.accessProviders ?? []).map((p) => [p.name, p.type]));
      for (const provider of doc.accessProviders ?? []) {
        const validate = ajv.compile(registry.get(provider.type)!.providerSchema);
        expect({ provider: provider.name, valid: validate(provider), errors: validate.errors ?? null }).toEqual({ provider: provider.name, valid: true, errors: null });
      }
      const keys = { ...(doc.keys ?? {}), ...Object.assign({}, ...(doc.clientIdentities ?? []).map((identity) => identity.keys)) } as Record<string, { provider: string }>;
      for (const [name, key] of Object.entries(keys)) {
        const type = types.get(key.provider) ?? file.replace(/\.md$/, '');
        const validate = ajv.compile(registry.get(type)!.keySchema);
        expect({ key: name, valid: validate(key), errors: validate.errors ?? null }).toEqual({ key: name, valid: true, errors: null });
      }
    }
  });
});
