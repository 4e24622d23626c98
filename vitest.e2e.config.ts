import { defineConfig } from 'vitest/config';

// The real API server suite: `npm run test:e2e` (run by .ci/run after `npm test`).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    // One kube-apiserver for the whole suite; files run one after another against it.
    fileParallelism: false,
    globalSetup: ['test/e2e/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
