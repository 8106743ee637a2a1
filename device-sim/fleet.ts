// The fleet runner: one process, one MQTT connection per simulated device, real time.
//
// A run has four phases: warmup (devices online, producing; what they send is delivered before the
// outage), outage (every device disconnects; the simulated offline time is not waited for: device
// clocks jump by it and each device's backlog is created with timestamps spread over it), storm
// (devices reconnect at once or spread over a window, and keep producing for run.liveSeconds), and
// drain (until every device's watermark covers its last event, or the deadline).
import type { Ack } from '../src/contract/wire.js';
import { seededRandom, systemClock, type Clock, type Random } from './client/clock.js';
import { ContractDevice } from './client/contract-device.js';
import type { DeviceStats, SimDevice } from './client/device-stats.js';
import { mqttConnector } from './client/mqtt-transport.js';
import { NaiveDevice } from './client/naive-device.js';
import type { Connector, DeviceLog } from './client/transport.js';
import { noProgress, type ProgressSink } from './progress.js';
import { backlogPerDevice, type Scenario } from './scenario.js';

export type ClientKind = 'contract' | 'naive';

export interface FleetOptions {
  scenario: Scenario;
  /** e.g. mqtt://127.0.0.1:1883 */
  mqttUrl: string;
  /** Prefix of device ids; default scenario.fleet.devicePrefix, else a fresh tag per run. */
  runTag?: string;
  /** Replaces MQTT.js (tests, other transports). */
  connectorFor?: (tenant: string, device: string) => Connector;
  progress?: ProgressSink;
  log?: DeviceLog;
  /** Aborting ends the run early (Ctrl-C); the result covers what happened until then. */
  signal?: AbortSignal;
  /** Sees every ack every device receives (tracing, custom figures). */
  onAck?: (device: DeviceOutcome, ack: Ack) => void;
}

export interface DeviceOutcome {
  tenant: string;
  device: string;
  kind: ClientKind;
  firstSeq: number;
  /** seq of the last event created (warmup, backlog and live). */
  lastSeq: number;
  /** seq of the last backlog event: the backlog is complete when the watermark reaches it. */
  backlogLastSeq: number;
  watermark: number;
  /** Epoch ms at which the device was told to reconnect. */
  reconnectAt: number;
  /** Epoch ms at which its watermark first covered backlogLastSeq; null if it never did. */
  completedAt: number | null;
  stats: DeviceStats;
}

export interface FleetResult {
  scenario: string;
  runTag: string;
  mqttUrl: string;
  startedAt: number;
  stormAt: number;
  endedAt: number;
  /** Every device's watermark covers its last event. */
  drained: boolean;
  /** Closed connections by cause (refused with a CONNACK code, lost, failed with an error message). */
  closeCauses: Record<string, number>;
  aborted: boolean;
  devices: DeviceOutcome[];
}

interface Member {
  outcome: DeviceOutcome;
  sim: SimDevice;
  /** Fractional events owed by the live generator. */
  owed: number;
}

const TICK_MS = 100;

/** A fresh run tag: short, sortable, valid in device ids. */
export function newRunTag(now = Date.now(), random: Random = Math.random): string {
  return `r${now.toString(36)}${Math.floor(random() * 36 ** 3).toString(36).padStart(3, '0')}`;
}

/** Assigns tenants by share, in contiguous blocks (device i's tenant does not depend on the fleet's other knobs). */
export function assignTenants(devices: number, tenants: { name: string; share: number }[]): string[] {
  const out: string[] = [];
  let acc = 0;
  for (const t of tenants) {
    acc += t.share;
    const until = Math.round(acc * devices);
    while (out.length < until) out.push(t.name);
  }
  while (out.length < devices) out.push(tenants[tenants.length - 1]!.name);
  return out;
}

/** Device i is naive when the running count of naive devices steps up at i: evenly interleaved. */
export function isNaive(i: number, naiveShare: number): boolean {
  return Math.floor((i + 1) * naiveShare) > Math.floor(i * naiveShare);
}

export async function runFleet(opts: FleetOptions): Promise<FleetResult> {
  const s = opts.scenario;
  const random = seededRandom(s.seed);
  const progress = opts.progress ?? noProgress;
  const runTag = opts.runTag ?? s.fleet.devicePrefix ?? newRunTag();
  const startedAt = Date.now();

  // Device clocks run ahead of real time by the simulated offline time, so that event timestamps
  // (and the naive client's "last N minutes") look as they would after a real outage.
  let offset = 0;
  const clock: Clock = { now: () => Date.now() + offset, setTimer: systemClock.setTimer, clearTimer: systemClock.clearTimer };
  const pad = 'x'.repeat(Math.max(0, s.events.dataBytes - 24));
  let produced = 0;
  const dataOf = () => ({ n: ++produced, pad });

  const tenants = assignTenants(s.fleet.devices, s.fleet.tenants);
  const width = String(s.fleet.devices - 1).length;
  const members: Member[] = [];
  const closeCauses = new Map<string, number>();
  for (let i = 0; i < s.fleet.devices; i++) {
    const tenant = tenants[i]!;
    const device = `${runTag}-${String(i).padStart(width, '0')}`;
    const kind: ClientKind = isNaive(i, s.fleet.naiveShare) ? 'naive' : 'contract';
    const inner =
      opts.connectorFor?.(tenant, device) ??
      mqttConnector({ url: opts.mqttUrl, clientId: `${tenant}.${device}`, keepaliveSec: s.mqtt.keepaliveSec, connectTimeoutMs: s.mqtt.connectTimeoutMs });
    // Every closed connection is counted by cause, so that "connect failed" in a report can be told apart.
    const connector: Connector = (handlers) =>
      inner({
        ...handlers,
        onClose: (info) => {
          const cause = info.refusedCode !== undefined ? `refused (CONNACK ${info.refusedCode})` : `${info.connected ? 'lost' : 'failed'}: ${info.error ?? 'closed'}`;
          closeCauses.set(cause, (closeCauses.get(cause) ?? 0) + 1);
          handlers.onClose(info);
        },
      });
    const outcome: DeviceOutcome = {
      tenant,
      device,
      kind,
      firstSeq: s.events.firstSeq,
      lastSeq: s.events.firstSeq - 1,
      backlogLastSeq: s.events.firstSeq - 1,
      watermark: 0,
      reconnectAt: 0,
      completedAt: null,
      stats: undefined as unknown as DeviceStats,
    };
    const onAck = (ack: Ack) => {
      opts.onAck?.(outcome, ack);
      if (outcome.completedAt === null && outcome.reconnectAt > 0 && ack.watermark >= outcome.backlogLastSeq) outcome.completedAt = Date.now();
    };
    const common = { tenant, device, connector, clock, firstSeq: s.events.firstSeq, onAck, ...(opts.log ? { log: opts.log } : {}) };
    const sim: SimDevice =
      kind === 'naive'
        ? new NaiveDevice({ ...common, client: s.naive })
        : new ContractDevice({ ...common, client: s.contract, random: seededRandom(s.seed * 100_003 + i) });
    outcome.stats = sim.stats;
    members.push({ outcome, sim, owed: random() });
  }

  let generating = false;
  let lastTick = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    const dt = (now - lastTick) / 1000;
    lastTick = now;
    if (!generating || s.events.ratePerSec === 0) return;
    for (const m of members) {
      m.owed += s.events.ratePerSec * dt;
      while (m.owed >= 1) {
        m.owed -= 1;
        m.sim.enqueue(s.events.type, dataOf());
      }
    }
  }, TICK_MS);

  let phase = 'warmup';
  let stormAt = 0;
  const counters = () => {
    let sent = 0;
    let accepted = 0;
    let deferrals = 0;
    let refused = 0;
    let completed = 0;
    for (const m of members) {
      sent += m.sim.stats.eventsSent;
      accepted += m.sim.stats.acceptedReported;
      deferrals += m.sim.stats.deferrals;
      refused += m.sim.stats.connectRefused;
      if (m.outcome.completedAt !== null) completed++;
    }
    return { sent, accepted, deferrals, refused, completed };
  };
  let prev = counters();
  let prevAt = Date.now();
  const progressTimer = setInterval(() => {
    const c = counters();
    const now = Date.now();
    const dt = Math.max(0.001, (now - prevAt) / 1000);
    const t = stormAt ? `t+${((now - stormAt) / 1000).toFixed(0)}s` : `${((now - startedAt) / 1000).toFixed(0)}s`;
    progress.update(
      `[${s.name} ${phase} ${t}] drained ${c.completed}/${members.length}  sent ${Math.round((c.sent - prev.sent) / dt)} ev/s  accepted ${Math.round((c.accepted - prev.accepted) / dt)} ev/s  deferrals ${c.deferrals}  refused connects ${c.refused}`,
    );
    prev = c;
    prevAt = now;
  }, 1000);

  const aborted = () => opts.signal?.aborted ?? false;
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const allCovered = () => members.every((m) => m.sim.watermark >= m.sim.lastSeq);
  const waitUntil = async (done: () => boolean, deadline: number) => {
    while (!done() && Date.now() < deadline && !aborted()) await sleep(100);
  };

  try {
    // ---- warmup
    if (s.warmup.seconds > 0) {
      members.forEach((m) => m.sim.start());
      generating = true;
      await waitUntil(() => false, Date.now() + s.warmup.seconds * 1000);
      generating = false;
      await waitUntil(allCovered, Date.now() + s.warmup.settleSeconds * 1000);
      members.forEach((m) => m.sim.stop());
    }

    // ---- outage: the backlog, timestamped over the simulated offline time
    phase = 'storm';
    const offlineMs = s.outage.offlineSeconds * 1000;
    const backlog = backlogPerDevice(s);
    offset += offlineMs;
    const end = clock.now();
    for (const m of members) {
      for (let k = 0; k < backlog; k++) m.sim.enqueue(s.events.type, dataOf(), Math.round(end - offlineMs + ((k + 0.5) * offlineMs) / Math.max(1, backlog)));
      m.outcome.backlogLastSeq = m.sim.lastSeq;
    }

    // ---- storm
    stormAt = Date.now();
    const window = s.reconnect.pattern === 'spread' ? s.reconnect.windowSeconds * 1000 : 0;
    const startTimers: NodeJS.Timeout[] = [];
    for (const m of members) {
      const delay = window > 0 ? Math.floor(random() * window) : 0;
      m.outcome.reconnectAt = stormAt + delay;
      if (m.sim.watermark >= m.outcome.backlogLastSeq) m.outcome.completedAt = m.outcome.reconnectAt;
      if (delay === 0) m.sim.start();
      else startTimers.push(setTimeout(() => m.sim.start(), delay));
    }
    generating = s.run.liveSeconds > 0;
    const deadline = stormAt + s.run.deadlineSeconds * 1000;
    const liveEnd = stormAt + s.run.liveSeconds * 1000;
    await waitUntil(() => Date.now() >= liveEnd, Math.min(liveEnd, deadline));
    generating = false;
    phase = 'drain';
    await waitUntil(allCovered, deadline);
    startTimers.forEach(clearTimeout);
  } finally {
    clearInterval(ticker);
    clearInterval(progressTimer);
    members.forEach((m) => m.sim.stop());
    progress.done();
  }

  for (const m of members) {
    m.outcome.lastSeq = m.sim.lastSeq;
    m.outcome.watermark = m.sim.watermark;
  }
  return {
    scenario: s.name,
    runTag,
    mqttUrl: opts.mqttUrl,
    startedAt,
    stormAt,
    endedAt: Date.now(),
    drained: allCovered(),
    closeCauses: Object.fromEntries([...closeCauses].sort((a, b) => b[1] - a[1])),
    aborted: aborted(),
    devices: members.map((m) => m.outcome),
  };
}
