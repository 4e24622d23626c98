import { defineConfig } from 'vitest/config';
import { RotationLastSequencer } from './test/cluster/support/sequencer.ts';

// The real-cluster suite: `npm run test:cluster` (cluster:up, this, cluster:down). One cluster,
// one chart release and fixed stand-in ports: files run one after another, rotation.test.ts
// last (its workload runs from global setup on, beside the others).
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    fileParallelism: false,
    sequence: { sequencer: RotationLastSequencer },
    globalSetup: ['test/cluster/support/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});
