// `npm run test:image` only: building the image takes minutes and needs
// podman, mmdebstrap and runc (.ci/run installs them), so `npm test` leaves it out.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/image/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 20 * 60_000,
  },
});
