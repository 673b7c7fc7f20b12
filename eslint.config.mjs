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
    // The dependency rule (DESIGN.md): the core is framework-, SDK-, env- and fs-free.
    files: ['broker-core/**/*.ts'],
    ignores: ['broker-core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: nodeBuiltins.map((name) => ({ name, message: 'broker-core does no I/O of its own: inject a function.' })),
        patterns: [
          { group: ['@nestjs/*', 'fastify', '@fastify/*'], message: 'broker-core must not depend on a framework.' },
          { group: ['@aws-sdk/*', 'google-auth-library', '@azure/*'], message: 'Cloud SDKs belong in providers/.' },
          { group: ['**/broker-server/**', '**/providers/**', '**/cli/**'], message: 'broker-core depends on nothing of ours.' },
        ],
      }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'broker-core receives config; it never reads the environment.' }],
    },
  },
  {
    files: ['cli/**/*.ts'],
    ignores: ['cli/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/broker-server/**', '**/providers/**', '@nestjs/*', '@aws-sdk/*', 'google-auth-library', '@azure/*'], message: 'The CLI talks to the broker over HTTP only and stays light.' },
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
          { group: ['**/broker-server/**', '**/cli/**', '@nestjs/*'], message: 'Providers depend on broker-core and their own SDK only.' },
        ],
      }],
    },
  },
);
