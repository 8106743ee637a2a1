import { describe, expect, it } from 'vitest';
import { systemClock } from './client/clock.js';
import { LoopbackBridge } from './client/loopback-bridge.js';
import { assignTenants, isNaive, runFleet } from './fleet.js';
import type { ProgressSink } from './progress.js';
import { buildReport, formatSummary, percentile } from './report.js';
import { parseScenario } from './scenario.js';

describe('fleet helpers', () => {
  it('assigns tenants by share, in blocks', () => {
    expect(assignTenants(10, [{ name: 'a', share: 0.7 }, { name: 'b', share: 0.3 }])).toEqual(['a', 'a', 'a', 'a', 'a', 'a', 'a', 'b', 'b', 'b']);
    expect(assignTenants(3, [{ name: 'a', share: 1 / 3 }, { name: 'b', share: 1 / 3 }, { name: 'c', share: 1 / 3 }])).toEqual(['a', 'b', 'c']);
  });
  it.each([
    [0, 0],
    [0.5, 50],
    [0.25, 25],
    [1, 100],
  ])('naiveShare %f makes %i naive devices out of 100, interleaved', (share, count) => {
    const kinds = Array.from({ length: 100 }, (_, i) => isNaive(i, share));
    expect(kinds.filter(Boolean)).toHaveLength(count);
    if (share === 0.5) expect(kinds.slice(0, 4)).toEqual([false, true, false, true]);
  });
  it.each([
    [[], 50, null],
    [[7], 99, 7],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95, 10],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 10, 1],
  ] as [number[], number, number | null][])('percentile(%j, %i) = %s (nearest rank)', (values, p, want) => {
    expect(percentile(values, p)).toBe(want);
  });
});

describe('runFleet over the loopback bridge', () => {
  it('runs warmup, outage, storm and drain, and reports per kind', async () => {
    const bridge = new LoopbackBridge({ clock: systemClock, ackDelayMs: 1, device: { ratePerSec: 100, burst: 200 }, maxAcceptPerBatch: 40 });
    const scenario = parseScenario({
      name: 'unit-fleet',
      seed: 3,
      fleet: { devices: 12, tenants: [{ name: 'acme', share: 0.5 }, { name: 'globex', share: 0.5 }], naiveShare: 0.5 },
      events: { ratePerSec: 4, firstSeq: 11 },
      warmup: { seconds: 0.5, settleSeconds: 5 },
      outage: { offlineSeconds: 3600, backlogEvents: 60 },
      reconnect: { pattern: 'spread', windowSeconds: 0.3 },
      run: { liveSeconds: 0.5, deadlineSeconds: 20 },
      naive: { retryDelayMs: 200, flushIntervalMs: 200, reconnectDelayMs: 100 },
    });
    const lines: string[] = [];
    const progress: ProgressSink = { update: (l) => lines.push(l), done: () => {} };
    const result = await runFleet({ scenario, mqttUrl: 'loopback', runTag: 'unit', connectorFor: () => bridge.connector, progress });

    expect(result.drained).toBe(true);
    expect(result.devices.map((d) => d.device)).toEqual(Array.from({ length: 12 }, (_, i) => `unit-${String(i).padStart(2, '0')}`));
    expect(result.devices.filter((d) => d.tenant === 'acme')).toHaveLength(6);
    expect(result.devices.filter((d) => d.kind === 'naive')).toHaveLength(6);
    for (const d of result.devices) {
      expect(d.firstSeq).toBe(11);
      expect(d.backlogLastSeq - d.firstSeq + 1).toBeGreaterThanOrEqual(60); // warmup events + backlog
      expect(d.lastSeq).toBeGreaterThanOrEqual(d.backlogLastSeq);
      expect(d.watermark, `${d.device} ${d.kind} drained=${result.drained}`).toBe(d.lastSeq);
      expect(d.completedAt).not.toBeNull();
      expect(d.completedAt!).toBeGreaterThanOrEqual(d.reconnectAt);
      const stored = bridge.stored(d.tenant, d.device);
      const missing = Array.from({ length: d.lastSeq - d.firstSeq + 1 }, (_, k) => d.firstSeq + k).filter((q) => !stored.has(q));
      expect(missing, `${d.device} (${d.kind}) stored everything`).toEqual([]);
    }

    const report = buildReport(result, { skipped: 'unit test' });
    expect(report.totals.originalEvents).toBe(result.devices.reduce((n, d) => n + d.lastSeq - d.firstSeq + 1, 0));
    expect(report.byKind.contract!.retryAmplification).toBeLessThanOrEqual(1.1);
    expect(report.byKind.naive!.retryAmplification).toBeGreaterThan(report.byKind.contract!.retryAmplification);
    expect(report.byKind.naive!.duplicatesSent).toBeGreaterThan(0); // the replay of the warmup events
    expect(report.totals.backlogsCompleted).toBe(12);
    expect(report.drainTimeSec).not.toBeNull();
    const summary = formatSummary(report);
    expect(summary).toMatch(/contract devices: 6/);
    expect(summary).toMatch(/naive devices: 6/);
    expect(summary).toMatch(/retry amplification/);
    expect(summary).toMatch(/verification skipped: unit test/);
  }, 30_000);
});
