import { formatDotenv } from '../formats/dotenv';
import { HOSTILE_VALUES } from '../test-support/fake-broker';
import { parseEnvFile } from './env-file';

describe('parseEnvFile', () => {
  it('reads the usual forms', () => {
    const text = ['# secrets', '', 'A=plain', 'export B = spaced  # comment', "C='single $x \\n'", 'D="double \\"q\\" \\$x \\\\ \\n"', 'E=', "F='#' # c"].join('\n');
    expect(parseEnvFile(text, '.env')).toEqual({ A: 'plain', B: 'spaced', C: 'single $x \\n', D: 'double "q" $x \\ \n', E: '', F: '#' });
  });

  it('reads back what `voidkey mint --format dotenv` writes, hostile values included', () => {
    const minted = { K: { credentials: HOSTILE_VALUES, expiresAt: '2030-01-01T00:00:00.000Z', metadata: { provider: 'p', type: 't', identity: 'i' } } };
    expect(parseEnvFile(formatDotenv(minted), '.env')).toEqual(HOSTILE_VALUES);
  });

  it.each([
    ['a line without =', 'JUST_A_NAME', /\.env:1: expected NAME=value/],
    ['an invalid name', '1A=x', /\.env:1: expected NAME=value/],
    ['an unterminated double quote', 'A="x', /unterminated double-quoted/],
    ['trailing text after quotes', "A='x' y", /trailing text/],
  ])('refuses %s', (_name, text, message) => {
    expect(() => parseEnvFile(text, '.env')).toThrow(message);
  });
});
