import { defineConfig } from 'vitest/config';

// Integration tests share one real local stack (test/global-setup.ts) and isolate themselves by
// key prefix, table and index. Files run one at a time: on 2 cores, parallel files would compete
// with Redis, dynalite and OpenSearch for CPU and turn timing-sensitive checks flaky.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'device-sim/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 240_000,
    reporters: ['default'],
    // The lock file pins @aws-sdk to a release that supports Node 20; its notice about later releases is noise here.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
