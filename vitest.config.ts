import { defineConfig } from 'vitest/config';

// `npm run test:unit` (the ten-second loop): pure functions and in-process checks, no app, no CLI build,
// no shared Redis. A file belongs here only if it runs in about a second on its own; the property
// tests (fast-check) and the large re-merge are slower and stay with the rest.
const UNIT = [
  'test/errors.test.ts',
  'test/model/**/*.test.ts',
  'test/docs-links.test.ts',
  'test/architecture.test.ts',
  'test/text.test.ts',
  'test/logger.test.ts',
  'test/config.test.ts',
  'test/pipeline/feed-options.test.ts',
  'test/pipeline/filter.test.ts',
  'test/pipeline/merge.test.ts',
  'test/parse/**/*.test.ts',
  'test/render/**/*.test.ts',
  'test/xml/**/*.test.ts',
  'test/vault/**/*.test.ts',
  'test/secrets/scrub.test.ts',
  'test/oauth/sign-oauth1.test.ts',
  'test/oauth/parse-links.test.ts',
  'test/oauth/provider.test.ts',
  'test/fetch/guard.test.ts',
  'test/fetch/response-headers.test.ts',
  'test/refresh/update-cache.test.ts',
  'test/stats/reader-agent.test.ts',
  'test/websub/topic.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Test files start real servers and SQLite files; two workers match the 2-core target machine.
    pool: 'forks',
    maxWorkers: 2,
    // `vitest run` (npm test) runs both projects, each file once.
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: UNIT, globalSetup: ['test/global-setup.ts'] },
      },
    ],
  },
});
