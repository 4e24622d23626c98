import { defineConfig } from 'vitest/config';

// The real-cluster suite: `npm run test:cluster` (cluster:up, this, cluster:down). One cluster,
// one chart release and fixed stand-in ports: files run one after another.
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    fileParallelism: false,
    globalSetup: ['test/cluster/support/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});
