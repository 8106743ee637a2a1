import { defineConfig } from 'vitest/config';

// Integration tests share real services started per file; running files in parallel
// on a 2-core machine makes them compete for CPU, so files run one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'device-sim/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 240_000,
    reporters: ['default'],
  },
});
