// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['fs', 'fs/promises', 'node:fs', 'node:fs/promises', 'http', 'https', 'node:http', 'node:https', 'net', 'node:net', 'child_process', 'node:child_process'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'action/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Later blocks for broker-core, the CLI and providers repeat the test/ pattern (a later
    // block's rule replaces an earlier one's). The sandbox (what `npm run demo` starts) and the demo are product: they never reach into test/.
    files: ['sandbox/**/*.ts', 'scripts/**/*.ts', 'broker-server/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['**/test/**'], message: 'test/ holds tests only; shared pieces live in sandbox/.' }],
      }],
    },
  },
  {
    // The dependency rule (DESIGN.md): the core is framework-, SDK-, env- and fs-free.
    files: ['broker-core/**/*.ts'],
    ignores: ['broker-core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: nodeBuiltins.map((name) => ({ name, message: 'broker-core does no I/O of its own: inject a function.' })),
        patterns: [
          { group: ['@nestjs/*', 'fastify', '@fastify/*'], message: 'broker-core must not depend on a framework.' },
          { group: ['@aws-sdk/*', 'google-auth-library', '@azure/*'], message: 'Cloud SDKs belong in providers/.' },
          { group: ['**/broker-server/**', '**/providers/**', '**/cli/**', '**/test/**', '**/sandbox/**'], message: 'broker-core depends on nothing of ours.' },
        ],
      }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'broker-core receives config; it never reads the environment.' }],
    },
  },
  {
    // The CLI talks to the broker over HTTP. Its offline tools (config validate/explain,
    // audit verify) may use broker-core's pure modules and the providers' SDK-free
    // descriptors; never the server, a provider's minting code or an SDK. The Action
    // reuses the CLI's modules under the same rule.
    files: ['cli/**/*.ts', 'action/**/*.ts'],
    ignores: ['cli/**/*.test.ts', 'action/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          {
            group: ['**/broker-server/**', '@nestjs/*', '@aws-sdk/*', 'google-auth-library', '@azure/*'],
            message: 'The CLI talks to the broker over HTTP only and stays light.',
          },
          {
            regex: '(^|/)providers(/(?!descriptors$|[^/]+/descriptor$)|$)',
            message: 'From providers/ the CLI may use only the SDK-free descriptors (providers/descriptors, providers/*/descriptor).',
          },
          { group: ['**/test/**', '**/sandbox/**'], message: 'test/ and sandbox/ are not part of the CLI.' },
          { regex: '(^|/)broker-core(/index)?$', message: 'Import the broker-core module you need, not its index: the index pulls in jose and the broker.' },
        ],
      }],
    },
  },
  {
    files: ['providers/**/*.ts'],
    ignores: ['providers/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/broker-server/**', '**/cli/**', '@nestjs/*', '**/test/**', '**/sandbox/**'], message: 'Providers depend on broker-core and their own SDK only.' },
        ],
      }],
    },
  },
);
