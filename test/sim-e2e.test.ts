// The simulator against the real stack: a contract fleet and a naive fleet, one after the other on
// one bridge (device-sim/scenarios/small.yaml, its bridge overrides applied), each verified against
// DynamoDB and OpenSearch by the simulator's own verification.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScenario } from '../device-sim/run-scenario.js';
import type { FleetReport } from '../device-sim/report.js';
import { formatSummary } from '../device-sim/report.js';
import { loadScenario, withOverrides, type Scenario } from '../device-sim/scenario.js';
import type { VerifyTarget } from '../device-sim/verify.js';
import { startTestBridge, type TestBridge } from './support/harness.js';

const SCENARIO = 'device-sim/scenarios/small.yaml';

let tb: TestBridge;
let base: Scenario;
let target: VerifyTarget;
let mqttUrl: string;
let contractReport: FleetReport | undefined;

beforeAll(async () => {
  base = loadScenario(SCENARIO);
  tb = await startTestBridge(base.bridge);
  mqttUrl = `mqtt://127.0.0.1:${tb.bridge.mqttPort}`;
  target = {
    dynamodb: { endpoint: tb.config.dynamodb.endpoint, region: tb.config.dynamodb.region, table: tb.config.dynamodb.table },
    opensearch: { node: tb.config.opensearch.node!, index: tb.config.opensearch.index },
  };
});

afterAll(async () => {
  await tb?.stop();
});

/** Runs the scenario with `patch` and checks what holds for every client: drained, nothing lost, nothing stored twice. */
async function runAndVerify(patch: unknown): Promise<FleetReport> {
  const scenario = withOverrides(base, patch);
  const { report } = await runScenario({ scenario, mqttUrl, target });
  process.stderr.write(`${formatSummary(report)}\n`);
  expect(report.drained, 'every device drained before the deadline').toBe(true);
  const v = report.verification;
  if ('skipped' in v) throw new Error(`verification skipped: ${v.skipped}`);
  expect(v.dynamodb.error).toBeUndefined();
  expect(v.opensearch.error).toBeUndefined();
  expect(v.dynamodb.shapeErrors).toEqual([]);
  expect({ missing: v.dynamodb.missing, sample: v.dynamodb.sampleMissing }, 'DynamoDB: every generated event stored').toEqual({ missing: 0, sample: [] });
  expect(v.dynamodb.duplicates, 'DynamoDB: no event stored twice').toBe(0);
  expect(v.dynamodb.unexpected).toBe(0);
  expect({ missing: v.opensearch.missing, sample: v.opensearch.sampleMissing }, 'OpenSearch: every generated event indexed').toEqual({ missing: 0, sample: [] });
  expect(v.opensearch.duplicates, 'OpenSearch: no event indexed twice').toBe(0);
  expect(v.expected).toBe(report.totals.originalEvents);
  return report;
}

describe('device-sim against the real stack (small.yaml)', () => {
  it('a contract fleet drains with zero loss, zero stored duplicates and retry amplification ≤ 1.1', async () => {
    contractReport = await runAndVerify({ fleet: { naiveShare: 0 }, verify: { waitSeconds: 45 } });
    expect(contractReport.byKind.contract?.devices).toBe(base.fleet.devices);
    expect(contractReport.totals.retryAmplification).toBeLessThanOrEqual(1.1);
    expect(contractReport.totals.rejectedBatches).toBe(0);
    expect(contractReport.totals.backlogsCompleted).toBe(base.fleet.devices);
  }, 120_000);

  it('a naive fleet also ends with zero loss and zero stored duplicates, at a visibly higher amplification', async () => {
    const naive = await runAndVerify({ fleet: { naiveShare: 1 }, verify: { waitSeconds: 30 } });
    expect(naive.byKind.naive?.devices).toBe(base.fleet.devices);
    // The naive replay resends events the bridge already holds: the bridge reports them as duplicates.
    expect(naive.totals.duplicatesSent).toBeGreaterThan(0);
    process.stderr.write(
      `retry amplification: naive ${naive.totals.retryAmplification}, contract ${contractReport?.totals.retryAmplification ?? 'n/a'}\n`,
    );
    if (contractReport) expect(naive.totals.retryAmplification).toBeGreaterThan(contractReport.totals.retryAmplification + 0.5);
  }, 120_000);
});
