import base from './jest.config.js';

/**
 * The fault-injection suite (`npm run test:faults`): real service processes against a real PostgreSQL and
 * redis-servers of the suite's own, under load, with faults injected. Scenarios run one at a time (each starts
 * several processes; on a 2-core machine they would otherwise starve each other), and the figures of every
 * scenario are printed as one table at the end.
 * @type {import('jest').Config}
 */
export default {
  ...base,
  testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  maxWorkers: 1,
  testTimeout: 120_000,
  reporters: ['default', '<rootDir>/test/faults/support/figures-reporter.js'],
};
