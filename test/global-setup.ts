// One local stack (Redis, dynalite in memory, a real OpenSearch node) for the whole test run.
// Tests isolate themselves with their own Redis key prefix, table and index (test/support/harness.ts);
// tests that need a special OpenSearch (tiny thread pool, stop/start) start their own.
import type { TestProject } from 'vitest/node';
import { startLocalStack } from '../src/stack/local-stack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: { redis: string; dynamodb: string; opensearch: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const stack = await startLocalStack({
    inMemory: true,
    opensearch: { heapMb: 512 },
    onProgress: (msg: string) => process.stderr.write(`[stack] ${msg}\n`),
  });
  process.stderr.write(`[stack] ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(stack.endpoints)}\n`);
  project.provide('endpoints', stack.endpoints);
  return async () => {
    await stack.stop();
  };
}
