// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['dist/', '.cache/', 'node_modules/', 'coverage/', 'charts/', 'manifests/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      // Imports name the .ts file itself (NodeNext, allowImportingTsExtensions), so Node's
      // resolution finds it; import-x parses what it finds with the TypeScript parser.
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })],
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      complexity: ['error', 12],
      'max-depth': ['error', 3],
      'max-params': ['error', 4],
      eqeqeq: 'error',
      'no-console': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Only config parsers read process.env.' },
      ],
    },
  },
  {
    // The composition roots and config parsers are the only readers of process.env / console.
    files: ['**/config.ts', 'cli/**', 'test/**', 'bench/**', 'demo/**'],
    rules: { 'no-restricted-properties': 'off', 'no-console': 'off' },
  },
  {
    files: ['test/**', 'bench/**', 'demo/**'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      complexity: 'off',
      'max-depth': 'off',
    },
  },
  {
    // Imports run one way: the shared contract and runtime import no capability, and the
    // webhook nothing of the sidecar.
    files: ['contract/**', 'runtime/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/agent/**', '**/webhook/**', '**/doctor/**', '**/issuer/**', '**/audit/**', '**/cli/**'], message: 'contract/ and runtime/ import no capability folder.' }] }] },
  },
  {
    files: ['webhook/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/agent/**'], message: 'webhook/ imports nothing from agent/ (shared names live in contract/).' }, { group: ['**/audit/**'], message: 'only cli/ imports audit/.' }] }] },
  },
  {
    // The audit reads the webhook's pure core; only the CLI imports it.
    files: ['audit/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/agent/**', '**/doctor/**', '**/issuer/**', '**/cli/**'], message: 'audit/ imports contract/, runtime/ and webhook/ only.' }] }] },
  },
  {
    // The sidecar ships without its operator commands: doctor/ and issuer/ sit on top of it.
    files: ['agent/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/doctor/**', '**/issuer/**', '**/audit/**'], message: 'agent/ imports nothing from doctor/, issuer/ or audit/.' }] }] },
  },
  {
    // The sidecar's sub-rooms: refresh/ keeps the token files current and knows nothing of the
    // proxy; proxy/ reads what refresh/ stores (its types) and serves it.
    files: ['agent/refresh/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/doctor/**', '**/issuer/**'], message: 'agent/ imports nothing from doctor/ or issuer/.' },
            { group: ['**/proxy/**', '../*.ts', '!../egress.ts'], message: 'agent/refresh/ imports nothing from agent/proxy/ or the composition root (egress.ts excepted).' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
