// Lint rules, including the layer rule of docs/architecture.md: a layer imports only layers
// below it, and only src/app/ picks storage and cache adapters.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const adapters = ['**/storage/sqlite/**', '**/storage/postgres/**', '**/cache/memory/**', '**/cache/redis/**'];

const layer = (files, forbidden, why) => ({
  files,
  // Tests may build the adapters they exercise a module with.
  ignores: forbidden.some((f) => adapters.includes(f)) ? ['**/*.test.ts'] : [],
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: forbidden.map((group) => ({ group: [group], message: why })) },
    ],
  },
});

export default tseslint.config(
  { ignores: ['node_modules/', 'sites/', 'dist/', 'test-output/', '.bench/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  layer(['src/core/**'], ['**/storage/**', '**/cache/**', '**/doctype/**', '**/auth/**', '**/api/**', '**/app/**', '**/cli/**', '**/web/**'],
    'core is the lowest layer and imports nothing else from src/'),
  layer(['src/storage/**', 'src/cache/**'], ['**/doctype/**', '**/auth/**', '**/api/**', '**/app/**', '**/cli/**', '**/web/**'],
    'ports and adapters sit below the domain and know nothing of it'),
  layer(['src/doctype/**'], ['**/auth/**', '**/api/**', '**/app/**', '**/cli/**', '**/web/**', ...adapters],
    'doctype talks to storage through the port only; only src/app/ picks adapters'),
  layer(['src/auth/**'], ['**/api/**', '**/app/**', '**/cli/**', '**/web/**', ...adapters],
    'auth sits below api; only src/app/ picks adapters'),
  layer(['src/api/**'], ['**/app/**', '**/cli/**', '**/web/**', ...adapters],
    'api sits below app; only src/app/ picks adapters'),
  layer(['src/cli/**'], adapters, 'the CLI goes through src/app/, which picks adapters'),
);
