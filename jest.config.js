/** Tests run from TypeScript sources through swc; `tsc -b` does the type checking. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/examples', '<rootDir>/test'],
  testMatch: ['**/test/**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
    // Dependencies published as ES modules only (see transformIgnorePatterns), to CommonJS.
    '/node_modules/(cockatiel|commander)/.+\\.js$': [
      '@swc/jest',
      { jsc: { target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  // Node >= 22.12 require()s ES modules, jest's CommonJS runtime does not: these packages (ESM-only
  // since cockatiel 4 and commander 15) are compiled like our sources; the rest of node_modules is not.
  transformIgnorePatterns: ['/node_modules/(?!(cockatiel|commander)/)'],
  moduleNameMapper: {
    '^@eventport/([^/]+)$': '<rootDir>/packages/$1/src/index.ts',
    // Sources import siblings as './x.js' (Node16 resolution); jest finds the .ts beside it.
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testTimeout: 60000,
  // One test file at a time: several files share each local broker, and the fault cases (broker
  // restarts, injected Kafka errors) must not hit another file's consumers.
  maxWorkers: 1,
  // Client libraries keep timers and sockets a while after they were closed (kafkajs' retries of an
  // aborted connect, gRPC channels, ioredis command timers): once every test has finished, the run
  // ends instead of waiting for them. The bench exits the same way.
  forceExit: true,
};
