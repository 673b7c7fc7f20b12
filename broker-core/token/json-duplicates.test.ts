import { hasDuplicateMembers } from './json-duplicates';

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
