import { denotesExactly, InexactNumber, parseExactJson } from './exact-numbers';

describe('numbers compare on what the issuer wrote', () => {
  it.each([
    ['100', 100],
    ['1e2', 100],
    ['1.5e1', 15],
    ['100.000', 100],
    ['-7', -7],
    ['-0', -0],
    ['9007199254740991', 9007199254740991],
  ])('%s is exactly %d', (source, value) => {
    expect(denotesExactly(source, value)).toBe(true);
    expect(parseExactJson(`{"n":${source}}`)).toEqual({ n: value });
  });

  it.each([
    ['100.00000000000000001', 100],
    ['9007199254740993', 9007199254740992],
    ['99.99999999999999999', 100],
    ['1e-400', 0],
    ['123456789012345678901234567890', 1.2345678901234568e29],
  ])('%s parses to a rounded integer: kept as text, never as %d', (source, value) => {
    expect(JSON.parse(source)).toBe(value); // the rounding this guards against
    expect(denotesExactly(source, value)).toBe(false);
    const parsed = parseExactJson(`{"n":${source},"list":[${source}],"ok":5}`) as Record<string, unknown>;
    expect(parsed.n).toBeInstanceOf(InexactNumber);
    expect((parsed.list as unknown[])[0]).toBeInstanceOf(InexactNumber);
    expect(parsed.ok).toBe(5);
    expect(JSON.stringify(parsed.n)).toBe(JSON.stringify(source));
  });

  it('leaves fractions (which no claim condition can equal) and strings alone', () => {
    expect(parseExactJson('{"f":1.25,"s":"v1.2.3 1234567890123456789"}')).toEqual({ f: 1.25, s: 'v1.2.3 1234567890123456789' });
  });

  // The reviver runs only when a fraction, exponent or long digit run stands outside a
  // string; strings that look like numbers (an issuer on 127.0.0.1, a sha) skip it.
  it.each([
    ['an issuer on an IP address', '{"iss":"http://127.0.0.1:4000/client","n":NUM}'],
    ['a string with escaped quotes around digits', '{"s":"a\\"1.5e3\\"b","n":NUM}'],
    ['a sha', '{"sha":"9e30c44298fc1c149afbf4c8996fb92427ae41e4","n":NUM}'],
  ])('finds a rounded number beside %s, and passes an exact one', (_name, template) => {
    const exact = parseExactJson(template.replace('NUM', '100')) as Record<string, unknown>;
    expect(exact.n).toBe(100); // positive control
    expect(JSON.stringify(exact)).toBe(JSON.stringify(JSON.parse(template.replace('NUM', '100'))));
    const rounded = parseExactJson(template.replace('NUM', '100.00000000000000001')) as Record<string, unknown>;
    expect(rounded.n).toBeInstanceOf(InexactNumber);
  });
});
