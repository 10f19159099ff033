// Projects: unit (pure modules, no I/O), integration (real etcd and SQS server), e2e (the whole
// local stack through serverless-offline), gohan (upstream Gohan as its client), chaos (faults
// injected into them), openstack (real Keystone and Heat).
// etcd and the SQS server are started once per run by test/helpers/global-setup.ts on free loopback ports.
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  // @middy/* ship ESM only; let ts-jest transform them.
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  // tsconfig.json sets isolatedModules: ts-jest transpiles each file alone, without a type-check;
  // `npm test` type-checks the whole project once, with tsc.
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true }, diagnostics: { warnOnly: false } }] },
};
module.exports = {
  // Four files at once on the two cores: the e2e, chaos and openstack files (each boots its own
  // stack on free ports) spend most of their time waiting (an outage, a hold, a token's
  // lifetime), so two workers left the cores idle; the unit and integration files fill the rest.
  maxWorkers: 4,
  testSequencer: '<rootDir>/test/helpers/stacks-first-sequencer.cjs',
  // Integration tests wait for real servers; e2e files raise it further with jest.setTimeout.
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
  projects: [
    // The job lifecycle files run here too, on the in-memory store (test/integration/jobs/helpers.ts).
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts', '<rootDir>/test/integration/jobs/**/*.test.ts'],
      globals: { ESI_TEST_STORE: 'memory' },
    },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    // The upstream Gohan server as the client of the whole local stack (skipped without its build).
    { ...common, displayName: 'gohan', testMatch: ['<rootDir>/test/gohan/**/*.test.ts'] },
    // Faults injected into the whole local stack (or real etcd and SQS); each case prints its recovery time.
    { ...common, displayName: 'chaos', testMatch: ['<rootDir>/test/chaos/**/*.test.ts'] },
    // Real Keystone and Heat (Debian's, installed as root when missing): one pair per run, shared by the files.
    {
      ...common,
      displayName: 'openstack',
      testMatch: ['<rootDir>/test/openstack/**/*.test.ts'],
      globalSetup: '<rootDir>/test/helpers/openstack-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/openstack-teardown.ts',
    },
  ],
};
