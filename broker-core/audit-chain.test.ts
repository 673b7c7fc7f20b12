import { canonicalJson, GENESIS_HASH, recordHash, verifyChain } from './audit-chain';

describe('canonicalJson', () => {
  it('sorts keys at every level and leaves out undefined members', () => {
    const a = { b: 1, a: { d: [3, undefined, { z: 1, y: 2 }], c: 'x' }, u: undefined };
    const b = { a: { c: 'x', d: [3, undefined, { y: 2, z: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe('{"a":{"c":"x","d":[3,null,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it('is JSON that parses back to the same value', () => {
    const event = { time: '2026-12-02T00:00:00.000Z', keys: ['A', 'B'], 'ünï"code': 'line\nbreak', n: -0.5, t: true, none: null, empty: {}, list: [] };
    expect(JSON.parse(canonicalJson(event))).toEqual(event);
  });

  it('orders keys by UTF-16 code units, as Array.prototype.sort does', () => {
    expect(canonicalJson({ b: 1, B: 2, a: 3, _: 4, '10': 5, '9': 6 })).toBe('{"10":5,"9":6,"B":2,"_":4,"a":3,"b":1}');
  });

  it('gives a record hash that verifyChain accepts, and one that changes with any member', () => {
    const event = { requestId: 'r1', outcome: 'allowed' };
    const hash = recordHash(0, GENESIS_HASH, event);
    expect(verifyChain([JSON.stringify({ seq: 0, prevHash: GENESIS_HASH, hash, event })])).toMatchObject({ ok: true, records: 1 });
    expect(recordHash(0, GENESIS_HASH, { ...event, outcome: 'denied' })).not.toBe(hash);
  });
});
