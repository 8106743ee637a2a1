// `npm run bench -- --quick` once: the report is produced and the invariants hold in all three runs.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runStormBench } from '../bench/storm.js';

describe('the reconnect-storm benchmark, quick profile', () => {
  it('writes the comparison report and charts; no run loses or duplicates an event', { timeout: 300_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'ib-bench-'));
    const { reportFile, runs } = await runStormBench({ quick: true, outDir: out });
    expect(runs.map((r) => r.name)).toEqual(['reactive', 'contract', 'uncooperative']);
    for (const r of runs) {
      expect(r.eventsLost, `${r.name}: lost`).toBe(0);
      expect(r.storedDuplicates, `${r.name}: duplicates in DynamoDB`).toBe(0);
      expect(r.indexedDuplicates, `${r.name}: duplicates in OpenSearch`).toBe(0);
      expect(r.originalEvents).toBeGreaterThan(0);
      expect(r.ingestAttempts).toBeGreaterThanOrEqual(r.originalEvents * 0.99);
      expect(Number.isFinite(r.retryAmplification) && r.retryAmplification >= 0.99).toBe(true);
      expect(r.timeline.length).toBeGreaterThan(5);
      for (const chart of ['flow', 'queue', 'lag']) expect(existsSync(join(out, `${r.name}-${chart}.svg`))).toBe(true);
    }
    const md = readFileSync(reportFile, 'utf8');
    expect(md).toContain('| retry amplification (attempts ÷ original) |');
    expect(md).toContain('| events lost (acknowledged, not stored) | 0 | 0 | 0 |');
    expect(md).toContain('![contract-flow.svg](contract-flow.svg)');
    expect(readFileSync(join(out, 'contract-flow.svg'), 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*<path d="M/);
  });
});
