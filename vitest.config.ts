import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The image test builds and runs the container: `npm run test:image` (test/image/vitest.config.ts).
    exclude: [...configDefaults.exclude, 'test/image/**'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Two cores: socket tests and property tests each want one.
    maxWorkers: 2,
  },
});
