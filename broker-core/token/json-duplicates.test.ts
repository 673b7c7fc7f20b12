import { hasDuplicateMembers, jsonShape, jsonShapeProblem } from './json-duplicates';

describe('hasDuplicateMembers', () => {
  it.each([
    ['{"sub":"a","aud":"b"}', false],
    ['{"sub":"a","sub":"b"}', true],
    ['{"sub":"a","\\u0073ub":"b"}', true],
    ['{"a":{"x":1},"b":{"x":2}}', false],
    ['{"a":{"x":1,"x":2}}', true],
    ['{"a":[{"x":1},{"x":1}]}', false],
    ['{"a":"{\\"x\\":1,\\"x\\":2}"}', false],
    ['{"a":"\\"","a":1}', true],
    ['{"a":"\\\\","a":1}', true],
    ['{"a":"\\\\\\"","b":1}', false],
  ])('%s → %s', (text, expected) => {
    expect(JSON.parse(text)).toBeDefined();
    expect(hasDuplicateMembers(text)).toBe(expected);
  });
});

describe('jsonShapeProblem', () => {
  const nested = (depth: number) => `{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;

  it.each([
    ['flat claims', '{"sub":"a","aud":["b","c"]}', undefined],
    ['32 levels (the limit)', nested(32), undefined],
    ['33 levels', nested(33), 'too_deep'],
    ['5,000 levels', nested(5000), 'too_deep'],
    ['brackets inside strings do not count', `{"a":"${'['.repeat(100)}"}`, undefined],
    ['duplicate members', '{"sub":"a","sub":"b"}', 'duplicate_members'],
  ])('%s', (_name, text, expected) => {
    expect(JSON.parse(text)).toBeDefined();
    expect(jsonShapeProblem(text)).toBe(expected);
  });

  it('scans a million levels without recursion', () => {
    expect(jsonShapeProblem('['.repeat(1_000_000) + ']'.repeat(1_000_000), Infinity)).toBeUndefined();
  });
});

describe('jsonShape: numbers JSON.parse may have rounded', () => {
  it.each([
    ['integers', '{"iat":1765000000,"exp":1765003600,"n":-5,"z":0}', false],
    ['digits and dots inside strings', '{"iss":"http://127.0.0.1:4000","sha":"9e30c4","v":"1.2.3","big":"12345678901234567890"}', false],
    ['escaped quotes around digits', '{"s":"\\"1.5e3\\"","n":1}', false],
    ['15 digits', '{"n":123456789012345}', false],
    ['true, false and null', '{"a":true,"b":false,"c":null,"e":[1,2]}', false],
    ['a fraction', '{"n":1.5}', true],
    ['a negative fraction in an array', '{"n":[1,-0.5]}', true],
    ['an exponent', '{"n":1e2}', true],
    ['a capital exponent', '{"n":1E+2}', true],
    ['16 digits', '{"n":1234567890123456}', true],
  ])('%s → %s', (_name, text, expected) => {
    expect(JSON.parse(text)).toBeDefined();
    expect(jsonShape(text)).toEqual({ mayRound: expected });
  });

  it('ends on text that is not JSON (an unterminated string, stray quotes)', () => {
    for (const text of ['{"a":"b', '"', '{"a\\', '\\"', '{"a":1.5,"b":"', '']) expect(() => jsonShape(text)).not.toThrow();
  });
});
