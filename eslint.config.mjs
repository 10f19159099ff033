// Lint runs in `npm test` with zero warnings allowed: type-aware rules from typescript-eslint,
// formatting left to Prettier (eslint-config-prettier turns the overlapping rules off).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['node_modules/', '.esi-local/', '.serverless/', '.build/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.mjs', 'templates/tools/*.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // A type is imported as a type: the import is erased whatever the transpiler knows.
      '@typescript-eslint/consistent-type-imports': [
        'error',
        // `typeof import(…)` names a module loaded later (jest.isolateModules) without loading it now.
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      // A switch over a union names every member (or says `default:` on purpose).
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
    },
  },
  {
    // Product code reads in short functions; tests (and the simulators and local-stack tools in
    // infra/) may describe a whole scenario or server in one.
    files: ['shared/**/*.ts', 'functions/**/*.ts', 'cli/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
  {
    // The CommonJS scripts (setup, serverless plugins, jest reporter, the `esi` launcher) are
    // outside the TypeScript project; they get the untyped rules only.
    files: ['**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: false },
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
      },
    },
  },
  {
    // Tests read etcd values, YAML and JSON they parse themselves and check them with expect(),
    // which fails on a wrong shape; typing every parsed fixture would restate the assertions.
    // Production code keeps these rules: there `unknown` is narrowed before use.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Same reason: JSON.parse and YAML.parse already return `any`; naming it on a parsed document
      // (a CloudFormation template, serverless.yml) says no more or less than leaving it implicit.
      '@typescript-eslint/no-explicit-any': 'off',
      // Fakes implement the async interfaces (Store, SecretSource...) with synchronous bodies.
      '@typescript-eslint/require-await': 'off',
    },
  },
  // `require` is how a CommonJS file imports.
  { files: ['**/*.js', '**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  prettier,
);
