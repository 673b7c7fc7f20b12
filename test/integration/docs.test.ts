import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REASONS, type BrokerErrorCode } from '../../broker-core';
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

  it('documents no code the broker does not have (besides the framework ones)', () => {
    const framework = new Set(['ERR_PAYLOAD_TOO_LARGE', 'ERR_UNSUPPORTED_MEDIA_TYPE', 'ERR_NOT_FOUND', 'ERR_METHOD_NOT_ALLOWED']);
    for (const row of rows) expect(Object.hasOwn(REASONS, row.code) || framework.has(row.code)).toBe(true);
  });
});
