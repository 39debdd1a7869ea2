// ESLint: the project's rules that a compiler cannot check. The import-direction rules are
// the layering of docs/architecture.md ("Rules the linter enforces"): gateway → core →
// engine interfaces, engines depend on nothing above them, and the packages a browser
// loads never import Node's modules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Concrete engine implementations: only the composition root (main.ts, create-engines.ts) and tests pick one. */
const concreteEngines = [
  '**/engines/create-engines.js',
  '**/engines/*/sqlite-*.js',
  '**/engines/*/postgres-*.js',
  '**/engines/*/redis-*.js',
  '**/engines/redis-*.js',
  '**/engines/*/in-process-*.js',
  '**/engines/*/in-memory-*.js',
  '**/engines/*/single-node-*.js',
  '**/engines/bus/shard-subscriptions.js',
  '**/engines/media-store/local-*.js',
  '**/engines/media-store/s3-*.js',
  '**/engines/media-store/create-media-store.js',
];

const restrict = (patterns) => ['error', { patterns }];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'scripts/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['packages/*/src/**/*.{ts,tsx}'],
    // Each package's sources and, where they are a project of their own, its tests.
    languageOptions: {
      parserOptions: { project: ['packages/*/tsconfig.json', 'packages/*/tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Type-aware: a promise nobody awaits, catches or marks `void` loses its errors.
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test runs what test()/describe() register; their promises are the runner's.
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Test doubles and raw rows use `any` deliberately; production code stays typed by review.
      '@typescript-eslint/no-explicit-any': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // core/: the rules. It sees engines only through their interfaces, never the gateway.
    files: ['packages/server/src/core/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': restrict([
        { group: ['**/gateway/**', '../gateway/*'], message: 'core/ must not import gateway/: the gateway calls core, not the other way.' },
        { group: concreteEngines, message: 'core/ sees engines through their interfaces (engines/*/<seam>.ts) only.' },
      ]),
    },
  },
  {
    // engines/: storage and transport behind one interface each; no rules, no sockets.
    files: ['packages/server/src/engines/**/*.ts'],
    ignores: ['**/*.test.ts', '**/*.contract.ts'],
    rules: {
      'no-restricted-imports': restrict([
        { group: ['**/core/**', '../core/*', '../../core/*'], message: 'engines/ must not import core/.' },
        { group: ['**/gateway/**', '../gateway/*', '../../gateway/*'], message: 'engines/ must not import gateway/.' },
      ]),
    },
  },
  {
    // Packages a browser loads: no Node built-ins (tests may use them).
    files: ['packages/protocol/src/**/*.ts', 'packages/client/src/**/*.ts', 'packages/web/src/**/*.{ts,tsx}'],
    ignores: ['**/*.test.ts', '**/*.test-support.ts', 'packages/web/src/test/**'],
    rules: {
      'no-restricted-imports': restrict([
        {
          group: ['node:*', 'fs', 'path', 'os', 'crypto', 'http', 'https', 'net', 'stream', 'child_process'],
          message: 'browser packages must not import Node modules.',
        },
      ]),
    },
  },
);
