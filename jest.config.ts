import type { Config } from 'jest';

// Tests are CommonJS (compiled by swc); ESM-only dependencies (jose, NestJS 12,
// oidc-provider) load through Node 24's vm modules: `npm test` sets
// NODE_OPTIONS=--experimental-vm-modules.
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/broker-core', '<rootDir>/broker-server', '<rootDir>/providers', '<rootDir>/cli', '<rootDir>/action', '<rootDir>/sandbox', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Lazily loaded provider modules are imported as './x.js' (what Node resolves in dist/).
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2023',
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default config;
