// One scenario, start to finish: run the fleet, verify the stores, build the report.
import type { DeviceLog } from './client/transport.js';
import { runFleet, type FleetOptions, type FleetResult } from './fleet.js';
import { noProgress, type ProgressSink } from './progress.js';
import { buildReport, type FleetReport } from './report.js';
import type { Scenario } from './scenario.js';
import { verifyStores, type VerifyTarget } from './verify.js';

export interface RunScenarioOptions {
  scenario: Scenario;
  mqttUrl: string;
  /** Where to verify; a string says why verification is skipped. */
  target: VerifyTarget | string;
  progress?: ProgressSink;
  log?: DeviceLog;
  signal?: AbortSignal;
  runTag?: string;
  connectorFor?: FleetOptions['connectorFor'];
}

export interface ScenarioRun {
  result: FleetResult;
  report: FleetReport;
}

export async function runScenario(opts: RunScenarioOptions): Promise<ScenarioRun> {
  const progress = opts.progress ?? noProgress;
  const result = await runFleet({
    scenario: opts.scenario,
    mqttUrl: opts.mqttUrl,
    progress,
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.runTag ? { runTag: opts.runTag } : {}),
    ...(opts.connectorFor ? { connectorFor: opts.connectorFor } : {}),
  });
  let verification: FleetReport['verification'];
  if (!opts.scenario.verify.enabled) verification = { skipped: 'verify.enabled is false in the scenario' };
  else if (typeof opts.target === 'string') verification = { skipped: opts.target };
  else if (result.aborted) verification = { skipped: 'run aborted' };
  else {
    verification = await verifyStores(
      result.devices.map((d) => ({ tenant: d.tenant, device: d.device, firstSeq: d.firstSeq, lastSeq: d.lastSeq })),
      opts.target,
      { waitMs: opts.scenario.verify.waitSeconds * 1000, onWait: (line) => progress.update(`[${opts.scenario.name} verify] ${line}`) },
    );
    progress.done();
  }
  return { result, report: buildReport(result, verification) };
}
