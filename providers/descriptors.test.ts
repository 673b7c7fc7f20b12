import { builtInProviders } from '.';
import { providerDescriptors } from './descriptors';

// The CLI validates configs with the descriptors, the server with the providers: they
// must be the same rules, or `voidkey config validate` passes what the broker refuses.
describe('providerDescriptors', () => {
  const servers = builtInProviders();
  const descriptors = providerDescriptors();

  it('has exactly the server\'s provider types', () => {
    expect([...descriptors.keys()].sort()).toEqual([...servers.keys()].sort());
  });

  it.each([...servers.keys()])('gives %s the server\'s schemas, fields and checks', (type) => {
    const server = servers.get(type)!;
    const descriptor = descriptors.get(type)!;
    expect(descriptor.providerSchema).toBe(server.providerSchema);
    expect(descriptor.keySchema).toBe(server.keySchema);
    expect(descriptor.outputFields).toEqual(server.outputFields);
    expect(descriptor.secretFields).toEqual(server.secretFields);
    expect(descriptor.durationBounds).toBe(server.durationBounds);
    expect(descriptor.check).toBe(server.check);
  });

  it('cannot mint', () => {
    const descriptor = descriptors.get('aws-sts')!;
    expect(() => descriptor.create({ name: 'x', type: 'aws-sts' }, {} as never)).toThrow(/not available in the CLI/);
  });
});

// A key without maxDuration is not open to the cloud's maximum (issue 11): `defaultMax`
// (one hour) applies unless the config's own durations ask for more; maxDuration opens it
// up to `max`. The broker's effect is pinned in test/e2e/provider-faults.e2e.test.ts.
describe('default lifetime ceilings', () => {
  const descriptors = providerDescriptors();
  const bounds = (type: string, provider: Record<string, unknown>, key: Record<string, unknown>) =>
    descriptors.get(type)!.durationBounds({ name: 'p', type, ...provider } as never, { provider: 'p', outputs: {}, ...key } as never);

  it.each([
    ['aws-sts', {}, {}, 43_200, 3600],
    ['aws-sts', { auth: 'ambient' }, {}, 3600, 3600],
    ['minio-sts', {}, {}, 365 * 86_400, 3600],
    ['gcp', {}, {}, 3600, undefined],
    ['gcp', {}, { extendedLifetime: true }, 43_200, undefined],
  ])('%s provider %j key %j: max %d, without maxDuration %s', (type, provider, key, max, defaultMax) => {
    expect(bounds(type, provider, key)).toMatchObject({ max });
    expect(bounds(type, provider, key).defaultMax).toBe(defaultMax);
  });
});
