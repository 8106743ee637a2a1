// The run's figures: computed from the fleet result (pure), rendered as JSON and as a short summary.
import { addStats, emptyStats, type DeviceStats } from './client/device-stats.js';
import type { ClientKind, DeviceOutcome, FleetResult } from './fleet.js';
import type { VerifyResult } from './verify.js';

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export interface KindFigures {
  devices: number;
  /** Events created by the devices (each counted once). */
  originalEvents: number;
  /** Events published, resends included. */
  eventsSent: number;
  /** eventsSent ÷ originalEvents: 1.0 means nothing was sent twice. */
  retryAmplification: number;
  /** Events published more than once (after a deferral, a lost ack, a replay). */
  resentEvents: number;
  /** Events sent that the bridge already held (its acks' `duplicates`). */
  duplicatesSent: number;
  batchesSent: number;
  acks: number;
  /** Acks with status partial or deferred ÷ acks of batches. */
  deferralRate: number;
  deferredEvents: number;
  /** Deferred events that were resends: retries that failed again (what the retry budget bounds). */
  deferredResent: number;
  rejectedBatches: number;
  ackTimeouts: number;
  connectRefused: number;
  connectionsLost: number;
  budgetWaits: number;
  rateCuts: number;
  /** Devices whose watermark reached the end of their backlog. */
  backlogsCompleted: number;
  /** From a device's reconnect to its watermark covering its backlog, seconds. */
  backlogCompletionSec: Percentiles;
  stats: DeviceStats;
}

export interface FleetReport {
  scenario: string;
  runTag: string;
  mqttUrl: string;
  startedAt: string;
  /** Whole run, warmup included, seconds. */
  runSec: number;
  /** From the storm to the last backlog completed, seconds; null if some backlog never completed. */
  drainTimeSec: number | null;
  /** Every event (live ones too) covered by a watermark before the deadline. */
  drained: boolean;
  aborted: boolean;
  /** Closed connections by cause, most frequent first. */
  closeCauses: Record<string, number>;
  totals: KindFigures;
  byKind: Partial<Record<ClientKind, KindFigures>>;
  verification: VerifyResult | { skipped: string };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

export function kindFigures(devices: DeviceOutcome[]): KindFigures {
  const stats = devices.reduce((acc, d) => addStats(acc, d.stats), emptyStats());
  const completions = devices
    .filter((d) => d.completedAt !== null)
    .map((d) => Math.max(0, d.completedAt! - d.reconnectAt) / 1000)
    .sort((a, b) => a - b);
  const pct = (p: number) => {
    const v = percentile(completions, p);
    return v === null ? null : round(v);
  };
  return {
    devices: devices.length,
    originalEvents: stats.eventsCreated,
    eventsSent: stats.eventsSent,
    retryAmplification: stats.eventsCreated === 0 ? 0 : round(stats.eventsSent / stats.eventsCreated),
    resentEvents: stats.retriedSent,
    duplicatesSent: stats.duplicatesReported,
    batchesSent: stats.batchesSent,
    acks: stats.acks,
    deferralRate: stats.acks === 0 ? 0 : round(stats.deferrals / stats.acks),
    deferredEvents: stats.deferredEvents,
    deferredResent: stats.deferredResent,
    rejectedBatches: stats.rejectedBatches,
    ackTimeouts: stats.ackTimeouts,
    connectRefused: stats.connectRefused,
    connectionsLost: stats.connectionsLost,
    budgetWaits: stats.budgetWaits,
    rateCuts: stats.rateCuts,
    backlogsCompleted: completions.length,
    backlogCompletionSec: { p50: pct(50), p95: pct(95), p99: pct(99), max: pct(100) },
    stats,
  };
}

export function buildReport(result: FleetResult, verification: VerifyResult | { skipped: string }): FleetReport {
  const byKind: Partial<Record<ClientKind, KindFigures>> = {};
  for (const kind of ['contract', 'naive'] as const) {
    const ds = result.devices.filter((d) => d.kind === kind);
    if (ds.length > 0) byKind[kind] = kindFigures(ds);
  }
  const allCompleted = result.devices.every((d) => d.completedAt !== null);
  const lastCompletion = Math.max(result.stormAt, ...result.devices.map((d) => d.completedAt ?? 0));
  return {
    scenario: result.scenario,
    runTag: result.runTag,
    mqttUrl: result.mqttUrl,
    startedAt: new Date(result.startedAt).toISOString(),
    runSec: round((result.endedAt - result.startedAt) / 1000),
    drainTimeSec: allCompleted ? round((lastCompletion - result.stormAt) / 1000) : null,
    drained: result.drained,
    aborted: result.aborted,
    closeCauses: result.closeCauses,
    totals: kindFigures(result.devices),
    byKind,
    verification,
  };
}

const fmt = (n: number | null, unit = '') => (n === null ? 'n/a' : `${n}${unit}`);
const pctText = (p: Percentiles) => `p50 ${fmt(p.p50, 's')}  p95 ${fmt(p.p95, 's')}  p99 ${fmt(p.p99, 's')}  max ${fmt(p.max, 's')}`;

/** The human summary: a few lines per client kind, then the verification verdict. */
export function formatSummary(r: FleetReport): string {
  const lines: string[] = [];
  lines.push(`scenario ${r.scenario} (run ${r.runTag}) against ${r.mqttUrl}${r.aborted ? ' — ABORTED' : ''}`);
  lines.push(`  drained: ${r.drained ? 'yes' : 'NO'}   drain time (storm → last backlog complete): ${fmt(r.drainTimeSec, 's')}   run: ${r.runSec}s`);
  const kinds = Object.entries(r.byKind) as [ClientKind, KindFigures][];
  for (const [kind, k] of kinds.length > 1 ? [...kinds, ['all' as ClientKind, r.totals] as [ClientKind, KindFigures]] : kinds) {
    lines.push(`  ${kind} devices: ${k.devices}`);
    lines.push(`    original events ${k.originalEvents}, sent ${k.eventsSent}, retry amplification ${k.retryAmplification}`);
    lines.push(`    resent ${k.resentEvents}, duplicates sent ${k.duplicatesSent}, deferral rate ${k.deferralRate} (${k.deferredEvents} events deferred, ${k.deferredResent} of them resends), rejected batches ${k.rejectedBatches}, ack timeouts ${k.ackTimeouts}`);
    lines.push(`    connects refused ${k.connectRefused}, connections lost ${k.connectionsLost}`);
    lines.push(`    backlog completion (${k.backlogsCompleted}/${k.devices}): ${pctText(k.backlogCompletionSec)}`);
  }
  const causes = Object.entries(r.closeCauses);
  if (causes.length > 0) lines.push(`  closed connections: ${causes.slice(0, 4).map(([c, n]) => `${n} × ${c}`).join('; ')}`);
  const v = r.verification;
  if ('skipped' in v) {
    lines.push(`  verification skipped: ${v.skipped}`);
  } else {
    lines.push(`  verification ${v.ok ? 'OK' : 'FAILED'}: ${v.expected} events expected`);
    lines.push(`    DynamoDB ${v.dynamodb.table}: stored ${v.dynamodb.stored}, missing ${v.dynamodb.missing}, duplicates ${v.dynamodb.duplicates}, unexpected ${v.dynamodb.unexpected}${v.dynamodb.error ? `, error: ${v.dynamodb.error}` : ''}`);
    lines.push(`    OpenSearch ${v.opensearch.index}: indexed ${v.opensearch.indexed}, missing ${v.opensearch.missing}, duplicates ${v.opensearch.duplicates}${v.opensearch.error ? `, error: ${v.opensearch.error}` : ''} (waited ${v.waitedSec}s)`);
  }
  return lines.join('\n');
}
