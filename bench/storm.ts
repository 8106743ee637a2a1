// The reconnect-storm benchmark: one fleet, one backlog, one downstream envelope, three runs:
//   1. reactive:      naive clients against the bridge's all_or_nothing profile (reactive throttling);
//   2. contract:      contract clients against the bridge in contract mode;
//   3. uncooperative: naive clients against contract mode (the server protects its backends).
//
//   npm run bench [-- --quick] [--scenario FILE] [--out DIR]
//
// Each run gets a fresh bridge process (src/main.ts, as operators run it) with its own Redis key
// prefix, table and index on one local stack; DynamoDB is reached through the capacity proxy, which
// enforces the envelope per table and 1,000 WCU/s per partition as DynamoDB would. A markdown report
// with the comparison table and SVG charts goes to bench/results/<timestamp>/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalStack, type LocalStack } from '../src/stack/local-stack.js';
import { startCapacityProxy, type CapacityProxy } from '../src/testing/capacity-proxy.js';
import { ROOT, startBridgeProcess, writeConfig } from '../src/testing/bridge-process.js';
import { deepMerge } from '../src/config/load.js';
import { runFleet, type FleetResult } from '../device-sim/fleet.js';
import { buildReport, type FleetReport } from '../device-sim/report.js';
import { loadScenario, withOverrides, type Scenario } from '../device-sim/scenario.js';
import { verifyStores, type VerifyResult } from '../device-sim/verify.js';
import { StderrProgress } from '../device-sim/progress.js';
import { Sampler, type Sample } from './storm-sampler.js';
import { lineChart } from './svg-chart.js';

export type RunName = 'reactive' | 'contract' | 'uncooperative';

interface RunSpec {
  name: RunName;
  title: string;
  naiveShare: number;
  mode: 'contract' | 'all_or_nothing';
}

const RUNS: RunSpec[] = [
  { name: 'reactive', title: 'reactive throttling (naive clients, all-or-nothing bridge)', naiveShare: 1, mode: 'all_or_nothing' },
  { name: 'contract', title: 'coordinated contract (contract clients, contract bridge)', naiveShare: 0, mode: 'contract' },
  { name: 'uncooperative', title: 'uncooperative fleet (naive clients, contract bridge)', naiveShare: 1, mode: 'contract' },
];

export interface RunFigures {
  name: RunName;
  title: string;
  originalEvents: number;
  ingestAttempts: number;
  retryAmplification: number;
  deferralRate: number;
  p95BacklogCompletionSec: number | null;
  peakQueueDepth: number;
  drainTimeSec: number | null;
  theoreticalMinSec: number;
  drainRatio: number | null;
  duplicatesSuppressed: { edge: number; dynamodb: number; opensearch: number };
  dynamoThrottledPartitionSeconds: number;
  dynamoThrottledRequests: number;
  opensearchMaxLagSec: number;
  opensearch429s: number;
  eventsLost: number;
  storedDuplicates: number;
  indexedDuplicates: number;
  undelivered: number;
  verification: VerifyResult | { skipped: string };
  timeline: Sample[];
}

function say(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

async function runOne(spec: RunSpec, base: Scenario, stack: LocalStack, proxy: CapacityProxy, envelope: number): Promise<RunFigures> {
  const prefix = `bench${spec.name}${Date.now().toString(36)}`;
  const scenario = withOverrides(base, { fleet: { naiveShare: spec.naiveShare } }, spec.name);
  const bridgeDoc = deepMerge(base.bridge, {
    mqtt: { port: 0 },
    http: { port: 0 },
    // info: the runner waits for the 'bridge ready' line
    log: { level: 'info' },
    redis: { url: stack.endpoints.redis, keyPrefix: prefix },
    dynamodb: { endpoint: proxy.endpoint, table: `events-${prefix}` },
    opensearch: { node: stack.endpoints.opensearch, index: `events-${prefix}` },
    admission: { mode: spec.mode },
  });
  const proc = startBridgeProcess(writeConfig(bridgeDoc), { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  try {
    const ready = await proc.waitFor('bridge ready', 120_000);
    const http = `http://127.0.0.1:${ready['httpPort'] as number}`;
    const sampler = new Sampler(http);
    await sampler.start();
    const throttledBefore = proxy.stats().windows.reduce((n, w) => n + w.throttledRequests, 0);
    const progress = new StderrProgress();
    let result: FleetResult;
    try {
      result = await runFleet({
        scenario,
        mqttUrl: `mqtt://127.0.0.1:${ready['mqttPort'] as number}`,
        progress: { update: (line) => progress.update(`[${spec.name}] ${line}`), done: () => progress.done() },
        onAck: () => undefined,
      });
      sampler.markStorm(result.stormAt);
      // The queue drains after the last ack: keep sampling until it is empty (bounded).
      await sampler.waitFor((s) => s.queueDepth === 0, base.verify.waitSeconds * 1000);
    } finally {
      progress.done();
    }
    // Only what the bridge acknowledged is owed: [firstSeq, watermark] per device.
    const acked = result.devices.map((d) => ({ tenant: d.tenant, device: d.device, firstSeq: d.firstSeq, lastSeq: d.watermark }));
    const undelivered = result.devices.reduce((n, d) => n + Math.max(0, d.lastSeq - d.watermark), 0);
    say(`[${spec.name}] verifying ${acked.reduce((n, d) => n + d.lastSeq - d.firstSeq + 1, 0).toLocaleString()} acknowledged events in DynamoDB and OpenSearch…`);
    const verification = await verifyStores(
      acked,
      {
        dynamodb: { endpoint: stack.endpoints.dynamodb, region: 'us-east-1', table: `events-${prefix}` },
        opensearch: { node: stack.endpoints.opensearch, index: `events-${prefix}` },
      },
      { waitMs: base.verify.waitSeconds * 1000, onWait: (line) => say(`[${spec.name} verify] ${line}`) },
    );
    await sampler.stop();
    const report: FleetReport = buildReport(result, verification);
    return figures(spec, report, sampler, verification, envelope, undelivered, proxy.stats().windows.reduce((n, w) => n + w.throttledRequests, 0) - throttledBefore);
  } finally {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
}

function figures(
  spec: RunSpec,
  report: FleetReport,
  sampler: Sampler,
  verification: VerifyResult,
  envelope: number,
  undelivered: number,
  proxyThrottles: number,
): RunFigures {
  const tl = sampler.timeline();
  const atStorm = sampler.atStorm();
  const last = tl[tl.length - 1]!;
  const storm = tl.filter((s) => s.t >= 0);
  const received = last.received - (atStorm?.received ?? 0);
  const deferred = last.deferred - (atStorm?.deferred ?? 0);
  const original = report.totals.originalEvents;
  const unique = original - (atStorm?.acceptedNew ?? 0);
  const theoreticalMinSec = unique / envelope;
  // Drained = every device caught up and the queue emptied into DynamoDB.
  // The queue is empty from the sample after the last one that saw it non-empty.
  const fleetDrain = report.drainTimeSec;
  const lastBusy = storm.reduce((i, s, j) => (s.queueDepth > 0 ? j : i), -1);
  const emptiedAt = lastBusy < 0 ? 0 : (storm[lastBusy + 1]?.t ?? storm[lastBusy]!.t);
  const drainTimeSec = fleetDrain === null ? null : Math.max(fleetDrain, emptiedAt);
  return {
    name: spec.name,
    title: spec.title,
    originalEvents: original,
    ingestAttempts: last.received,
    retryAmplification: last.received / Math.max(1, original),
    deferralRate: deferred / Math.max(1, received),
    p95BacklogCompletionSec: report.totals.backlogCompletionSec.p95,
    peakQueueDepth: Math.max(0, ...tl.map((s) => s.queueDepth)),
    drainTimeSec,
    theoreticalMinSec,
    drainRatio: drainTimeSec === null ? null : drainTimeSec / theoreticalMinSec,
    duplicatesSuppressed: { edge: last.duplicates, dynamodb: last.storeDuplicates, opensearch: last.indexDuplicates },
    dynamoThrottledPartitionSeconds: last.hotPartitionSeconds,
    dynamoThrottledRequests: proxyThrottles,
    opensearchMaxLagSec: Math.max(0, ...tl.map((s) => s.searchLagMs / 1000)),
    opensearch429s: last.index429s,
    eventsLost: verification.dynamodb.missing,
    storedDuplicates: verification.dynamodb.duplicates,
    indexedDuplicates: verification.opensearch.duplicates,
    undelivered,
    verification,
    timeline: tl,
  };
}

const f1 = (v: number | null, d = 2) => (v === null ? '—' : v.toFixed(d));
const int = (v: number) => Math.round(v).toLocaleString('en-US');

function table(runs: RunFigures[]): string {
  const rows: [string, (r: RunFigures) => string][] = [
    ['original events', (r) => int(r.originalEvents)],
    ['ingest attempts (events received by the bridge)', (r) => int(r.ingestAttempts)],
    ['retry amplification (attempts ÷ original)', (r) => `${f1(r.retryAmplification)}×`],
    ['deferral / refusal rate in the reconnect window', (r) => `${(r.deferralRate * 100).toFixed(1)}%`],
    ['p95 backlog completion', (r) => (r.p95BacklogCompletionSec === null ? 'not all completed' : `${f1(r.p95BacklogCompletionSec, 1)} s`)],
    ['peak queue depth (events)', (r) => int(r.peakQueueDepth)],
    ['drain time', (r) => (r.drainTimeSec === null ? 'did not drain' : `${f1(r.drainTimeSec, 1)} s`)],
    ['theoretical minimum (write units ÷ envelope)', (r) => `${f1(r.theoreticalMinSec, 1)} s`],
    ['drain ÷ minimum', (r) => (r.drainRatio === null ? '—' : `${f1(r.drainRatio)}×`)],
    ['duplicates suppressed: edge (watermark)', (r) => int(r.duplicatesSuppressed.edge)],
    ['duplicates suppressed: DynamoDB', (r) => int(r.duplicatesSuppressed.dynamodb)],
    ['duplicates suppressed: OpenSearch (409)', (r) => int(r.duplicatesSuppressed.opensearch)],
    ['DynamoDB throttled partition-seconds', (r) => int(r.dynamoThrottledPartitionSeconds)],
    ['DynamoDB throttled requests (capacity proxy)', (r) => int(r.dynamoThrottledRequests)],
    ['OpenSearch max indexing lag', (r) => `${f1(r.opensearchMaxLagSec, 1)} s`],
    ['OpenSearch 429s', (r) => int(r.opensearch429s)],
    ['events lost (acknowledged, not stored)', (r) => int(r.eventsLost)],
    ['stored duplicates (DynamoDB / OpenSearch)', (r) => `${int(r.storedDuplicates)} / ${int(r.indexedDuplicates)}`],
    ['events not yet acknowledged at the deadline', (r) => int(r.undelivered)],
  ];
  return [
    `| | ${runs.map((r) => r.name).join(' | ')} |`,
    `| --- | ${runs.map(() => '---').join(' | ')} |`,
    ...rows.map(([label, fn]) => `| ${label} | ${runs.map(fn).join(' | ')} |`),
  ].join('\n');
}

function charts(r: RunFigures, dir: string): string[] {
  const tl = r.timeline.filter((s) => s.t >= -2);
  const markers = [{ x: 0, label: 'storm' }, ...(r.drainTimeSec !== null ? [{ x: r.drainTimeSec, label: 'drained' }] : [])];
  const files: [string, string][] = [
    [
      `${r.name}-flow.svg`,
      lineChart(
        [
          { label: 'attempts/s', color: '#c62828', points: tl.map((s) => [s.t, s.attemptsPerSec]) },
          { label: 'accepted/s', color: '#2e7d32', points: tl.map((s) => [s.t, s.acceptedPerSec]) },
        ],
        { title: `${r.name}: events offered vs accepted per second`, yLabel: 'events/s', markers },
      ),
    ],
    [`${r.name}-queue.svg`, lineChart([{ label: 'queue depth', color: '#3949ab', points: tl.map((s) => [s.t, s.queueDepth]) }], { title: `${r.name}: queue depth`, yLabel: 'events', markers })],
    [`${r.name}-lag.svg`, lineChart([{ label: 'indexing lag', color: '#8e24aa', points: tl.map((s) => [s.t, s.searchLagMs / 1000]) }], { title: `${r.name}: OpenSearch indexing lag`, yLabel: 'seconds', markers })],
  ];
  for (const [name, svg] of files) writeFileSync(join(dir, name), svg);
  return files.map(([name]) => name);
}

export interface StormBenchResult {
  dir: string;
  reportFile: string;
  runs: RunFigures[];
}

export async function runStormBench(opts: { quick: boolean; scenarioFile?: string; outDir?: string }): Promise<StormBenchResult> {
  const scenarioFile = opts.scenarioFile ?? join(ROOT, 'bench/scenarios', opts.quick ? 'storm-quick.yaml' : 'storm.yaml');
  const base = withOverrides(loadScenario(scenarioFile), {}, scenarioFile);
  const envelope = Number((base.bridge as { storage?: { writeUnitsPerSec?: number } }).storage?.writeUnitsPerSec ?? 1000);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const dir = resolve(opts.outDir ?? join(ROOT, 'bench/results', `storm-${stamp}${opts.quick ? '-quick' : ''}`));
  mkdirSync(dir, { recursive: true });
  say(`storm benchmark (${opts.quick ? 'quick' : 'default'}): ${base.fleet.devices} devices, envelope ${envelope} WCU/s, results in ${dir}`);
  say('starting the local stack (in memory)…');
  const stack = await startLocalStack({ inMemory: true, dynaliteInProcess: false, opensearch: { heapMb: 512 }, onProgress: (m) => say(`  ${m}`) });
  const proxy = await startCapacityProxy({ target: stack.endpoints.dynamodb, tableWcu: envelope, partitionWcu: 1000 });
  const runs: RunFigures[] = [];
  try {
    for (const [i, spec] of RUNS.entries()) {
      say(`run ${i + 1}/${RUNS.length}: ${spec.title}`);
      const r = await runOne(spec, base, stack, proxy, envelope);
      runs.push(r);
      say(`[${spec.name}] amplification ${f1(r.retryAmplification)}×, drain ${r.drainTimeSec === null ? 'none' : `${f1(r.drainTimeSec, 1)} s`}, lost ${r.eventsLost}, stored duplicates ${r.storedDuplicates}`);
    }
  } finally {
    await proxy.stop();
    await stack.stop();
  }
  const chartFiles = runs.map((r) => ({ run: r, files: charts(r, dir) }));
  const md = [
    `# Reconnect storm: reactive throttling vs the coordinated contract`,
    '',
    `${base.fleet.devices} devices (${base.description}); DynamoDB envelope ${envelope} WCU/s enforced by the capacity proxy; one local OpenSearch node. Scenario: \`${scenarioFile.replace(`${ROOT}/`, '')}\`. Run ${new Date().toISOString()}.`,
    '',
    table(runs),
    '',
    'Amplification counts every event the bridge received, resends included, against the events the devices created. Lost and stored duplicates are checked by reading every acknowledged event back from DynamoDB and OpenSearch. The queue layer suppresses duplicates too (a deterministic job id per accepted range, in contract mode), but BullMQ does not report them, so they are not counted here.',
    '',
    ...chartFiles.flatMap(({ run, files }) => [`## ${run.title}`, '', ...files.map((f) => `![${f}](${f})`), '']),
  ].join('\n');
  const reportFile = join(dir, 'report.md');
  writeFileSync(reportFile, md);
  writeFileSync(join(dir, 'results.json'), JSON.stringify(runs.map(({ timeline, ...r }) => ({ ...r, timelineSamples: timeline.length })), null, 2));
  writeFileSync(join(dir, 'timeline.json'), JSON.stringify(Object.fromEntries(runs.map((r) => [r.name, r.timeline]))));
  return { dir, reportFile, runs };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, scenario: { type: 'string' }, out: { type: 'string' } } });
  const t0 = Date.now();
  const { reportFile, runs } = await runStormBench({ quick: values.quick!, ...(values.scenario ? { scenarioFile: values.scenario } : {}), ...(values.out ? { outDir: values.out } : {}) });
  const byName = Object.fromEntries(runs.map((r) => [r.name, r]));
  const c = byName['contract']!;
  const re = byName['reactive']!;
  process.stdout.write(
    [
      '',
      table(runs),
      '',
      `contract vs reactive: amplification ${f1(c.retryAmplification)}× vs ${f1(re.retryAmplification)}×; p95 completion ${f1(c.p95BacklogCompletionSec, 1)} s vs ${f1(re.p95BacklogCompletionSec, 1)} s; contract drain ${f1(c.drainRatio)}× the minimum`,
      `report: ${reportFile} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
      '',
    ].join('\n'),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(ROOT, 'bench/storm.ts')) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
