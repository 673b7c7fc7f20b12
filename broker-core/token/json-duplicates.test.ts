import { hasDuplicateMembers, jsonShapeProblem } from './json-duplicates';

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
