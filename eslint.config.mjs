// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test/artifacts/**', '**/*.js', '**/*.cjs', '**/*.mjs', '!apps/dashboard/src/public/*.js'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      // A type-only import says so, and is erased: nothing is loaded for it at run time. (Files with
      // decorators are left alone: Nest reads constructor parameter types through their metadata.)
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      // Libraries are imported by alias (@herald/x), never by a path into another package.
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/libs/*', '../../libs/**', '../../../libs/**'], message: 'import libraries by their @herald/* alias' }] }],
    },
  },
  {
    // The dashboard's page script: plain browser JavaScript, outside the TypeScript project.
    files: ['apps/dashboard/src/public/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'script',
      ecmaVersion: 2022,
      globals: Object.fromEntries(
        ['window', 'document', 'sessionStorage', 'fetch', 'URL', 'URLSearchParams', 'Blob', 'Node', 'setTimeout', 'clearTimeout', 'console'].map((name) => [name, 'readonly']),
      ),
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-floating-promises': 'off', strict: ['error', 'global'] },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
