/**
 * Vitest config for the on-demand fuzz scripts (not part of `vitest run`, whose include is
 * `test/**\/*.test.ts`). Run from the repo root:
 *
 *   npx vitest run --config test/fuzz/vitest.config.ts
 *   FRAMES_FUZZ_ITERATIONS=100000 npx vitest run --config test/fuzz/vitest.config.ts
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/fuzz/**/*.fuzz.ts'],
    testTimeout: 0,
    pool: 'forks',
  },
});
