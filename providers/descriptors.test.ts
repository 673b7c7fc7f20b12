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
