import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Test files start real servers and SQLite files; two workers match the 2-core target machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
