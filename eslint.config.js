// Lint rules that catch the mistakes that matter in a long-running network process:
// promises nobody awaits and errors that vanish into empty catch blocks.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { LAYER_RULES } from './eslint.layers.mjs';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'eslint.config.js', 'eslint.layers.mjs', 'stryker.config.mjs', '.stryker-tmp/**', 'reports/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      'no-empty': ['error', { allowEmptyCatch: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'Only main.ts entries may exit the process.' },
        // Node 20 aborts the process (native, uncatchable) reading this on a point-at-infinity EC key from outside.
        { property: 'asymmetricKeyDetails', message: 'Read keys from outside with lib/pki/key-details.ts (safeKeyDetails / readSpkiDetails).' },
      ],
    },
  },
  {
    files: ['**/main.ts', 'bench/**/*.ts', '**/*.test.ts'],
    rules: { 'no-restricted-properties': ['error', { property: 'asymmetricKeyDetails', message: 'Read keys from outside with lib/pki/key-details.ts (safeKeyDetails / readSpkiDetails).' }] },
  },
  {
    // The fuzz targets call it on purpose (to show the abort is caught); key-details.ts names it in comments only.
    files: ['test/fuzz/**/*.ts', '**/*.test.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  ...LAYER_RULES,
);
