import { configDefaults, defineConfig } from 'vitest/config';

/** The UDP serving tests, run a second time with AIFENCE_IO=dgram: the fallback when the batched addon (native/udp) is not built. */
const UDP_SERVING = ['test/serve/udp-io.test.ts', 'test/serve/filtering.test.ts', 'test/serve/query-checks.test.ts', 'test/serve/robustness.test.ts', 'test/serve/ratelimit.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Two cores: socket tests and property tests each want one.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'all',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          // The image test builds and runs the container: `npm run test:image` (test/image/vitest.config.ts).
          exclude: [...configDefaults.exclude, 'test/image/**'],
        },
      },
      { extends: true, test: { name: 'dgram', include: UDP_SERVING, env: { AIFENCE_IO: 'dgram' } } },
    ],
  },
});
