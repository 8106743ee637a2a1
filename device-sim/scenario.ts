// A scenario: the fleet to simulate and the storm it goes through, in YAML, validated by one strict
// schema (unknown keys are refused) whose errors name the key: `fleet.devices: must be ≥ 1`.
// device-sim/scenarios/*.yaml are the shipped examples; every key is described in docs/device-client.md.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { deepMerge, formatIssues } from '../src/config/load.js';
import { ID_PATTERN } from '../src/contract/identity.js';
import { ClientOptionsError, compileContractOptions } from './client/contract-options.js';

const typeError = (expected: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${expected}`);
const num = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.number({ error: typeError('a number') }).min(min, `must be ≥ ${min}`).max(max, `must be ≤ ${max}`);
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => num(min, max).int('must be an integer');
const positive = (max = Number.MAX_SAFE_INTEGER) => z.number({ error: typeError('a number') }).positive('must be > 0').max(max, `must be ≤ ${max}`);
const share = () => num(0, 1);
const id = () => z.string({ error: typeError('a string') }).regex(ID_PATTERN, 'must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$');

const bucket = z.strictObject({ ratePerSec: positive().optional(), burst: int(1).optional() });
const backoff = z.strictObject({ baseMs: num(0).optional(), maxMs: num(0).optional() });

/** Mirrors ContractClientOptions; ranges and relations are checked by compileContractOptions. */
const contractClientSchema = z.strictObject({
  drain: bucket.optional(),
  batch: z.strictObject({ initial: int(1).optional(), max: int(1).optional(), increase: int(1).optional(), lingerMs: num(0).optional() }).optional(),
  backoff: backoff.optional(),
  reconnect: backoff.optional(),
  retryBudget: z.strictObject({ ratio: share().optional(), minPerSec: num(0).optional(), minBurst: num(0).optional(), refundAfterCalmMs: num(0).optional() }).optional(),
  pressure: z
    .strictObject({
      decrease: num(0, 1).optional(),
      increasePerAck: num(0).optional(),
      minRatePerSec: positive().optional(),
      repeat: int(1).optional(),
      cooldownMs: num(0).optional(),
    })
    .optional(),
  ackTimeoutMs: positive().optional(),
  syncTimeoutMs: positive().optional(),
  maxSyncAttempts: int(1).optional(),
  maxInFlight: int(1).optional(),
  creditTtlMs: num(0).optional(),
  maxBuffered: int(1).optional(),
});

const naiveClientSchema = z.strictObject({
  replayWindowMs: num(0).optional(),
  batchSize: int(1).optional(),
  retryDelayMs: num(0).optional(),
  ackTimeoutMs: positive().optional(),
  reconnectDelayMs: num(0).optional(),
  flushIntervalMs: positive().optional(),
});

export const scenarioSchema = z
  .strictObject({
    name: id(),
    description: z.string().default(''),
    /** Seed of every random draw of the fleet (jitter, spread, tenant order): same seed, same storm. */
    seed: int(0).default(1),
    fleet: z.strictObject({
      devices: int(1, 100_000),
      /** Device ids are `{prefix}-{n}`; default: a fresh tag per run, so reruns never collide in storage. */
      devicePrefix: id().optional(),
      tenants: z
        .array(z.strictObject({ name: id(), share: num(0, 1) }), { error: typeError('a list of {name, share}') })
        .min(1, 'must name at least one tenant'),
      /** Share of devices running the naive client (0 = all follow the contract, 1 = all naive). */
      naiveShare: share().default(0),
    }),
    events: z.strictObject({
      type: z.string().min(1, 'must not be empty').max(64, 'must be ≤ 64 characters').default('reading'),
      /** Approximate serialized size of each event's data, bytes. */
      dataBytes: int(2, 8192).default(64),
      /** Events per second per device while online. */
      ratePerSec: num(0, 10_000),
      /** seq of each device's first event. */
      firstSeq: int(1).default(1),
    }),
    warmup: z
      .strictObject({
        /** Seconds online before the outage; what is produced then is delivered before the storm (naive replay material). */
        seconds: num(0, 3600).default(0),
        /** Longest wait for the warmup events to be acknowledged before the outage. */
        settleSeconds: num(0, 3600).default(30),
      })
      .default({ seconds: 0, settleSeconds: 30 }),
    outage: z.strictObject({
      /** Simulated offline time (not waited for: the device clocks jump). Backlog = offlineSeconds × ratePerSec. */
      offlineSeconds: num(0, 30 * 86_400),
      /** Explicit backlog per device, overriding offlineSeconds × ratePerSec. */
      backlogEvents: int(0, 10_000_000).optional(),
    }),
    reconnect: z
      .strictObject({
        /** at_once: every device reconnects in the same instant; spread: uniformly over windowSeconds. */
        pattern: z.enum(['at_once', 'spread'], { error: typeError('at_once or spread') }),
        windowSeconds: num(0, 3600).default(0),
      }),
    run: z.strictObject({
      /** Seconds after the storm during which devices keep producing events at ratePerSec. */
      liveSeconds: num(0, 86_400).default(0),
      /** Seconds after the storm after which the run stops, drained or not. */
      deadlineSeconds: num(1, 86_400),
    }),
    contract: contractClientSchema.default({}),
    naive: naiveClientSchema.default({}),
    mqtt: z
      .strictObject({
        keepaliveSec: int(0, 65535).default(60),
        connectTimeoutMs: int(100).default(10_000),
      })
      .default({ keepaliveSec: 60, connectTimeoutMs: 10_000 }),
    verify: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Longest wait for storage and indexing to catch up with acceptance before counting. */
        waitSeconds: num(0, 3600).default(90),
      })
      .default({ enabled: true, waitSeconds: 90 }),
    /** Bridge config overrides used with --start-bridge (validated by the bridge's own schema then). */
    bridge: z.record(z.string(), z.unknown()).default({}),
  })
  .superRefine((s, ctx) => {
    const err = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const sum = s.fleet.tenants.reduce((a, t) => a + t.share, 0);
    if (Math.abs(sum - 1) > 1e-6) err(['fleet', 'tenants'], `shares must add up to 1 (they add up to ${+sum.toFixed(6)})`);
    const names = new Set<string>();
    s.fleet.tenants.forEach((t, i) => {
      if (names.has(t.name)) err(['fleet', 'tenants', i, 'name'], `duplicate tenant ${t.name}`);
      names.add(t.name);
    });
    if (s.reconnect.pattern === 'spread' && s.reconnect.windowSeconds <= 0) err(['reconnect', 'windowSeconds'], 'must be > 0 when reconnect.pattern is spread');
    if (s.outage.backlogEvents === undefined && s.events.ratePerSec === 0 && s.outage.offlineSeconds > 0) {
      err(['events', 'ratePerSec'], 'is 0, so the outage makes no backlog: set events.ratePerSec or outage.backlogEvents');
    }
    try {
      compileContractOptions(s.contract);
    } catch (e) {
      if (!(e instanceof ClientOptionsError)) throw e;
      err(['contract', ...e.field.split('.')], e.message.slice(e.field.length + 2));
    }
  });

export type Scenario = z.infer<typeof scenarioSchema>;

export class ScenarioError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`invalid scenario (${source}):\n  ${issues.join('\n  ')}`);
    this.name = 'ScenarioError';
  }
}

export function parseScenario(doc: unknown, source = 'scenario'): Scenario {
  const parsed = scenarioSchema.safeParse(doc);
  if (!parsed.success) throw new ScenarioError(source, formatIssues(parsed.error.issues));
  return parsed.data;
}

export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ScenarioError(file, [`cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ScenarioError(file, [`YAML: ${(e as Error).message.split('\n')[0]}`]);
  }
  return parseScenario(doc, file);
}

/** The scenario with `patch` merged over it, validated again (bench and tests vary one knob). */
export function withOverrides(s: Scenario, patch: unknown, source = 'overrides'): Scenario {
  return parseScenario(deepMerge(s, patch), source);
}

/** Backlog each device holds when it reconnects. */
export function backlogPerDevice(s: Scenario): number {
  return s.outage.backlogEvents ?? Math.round(s.outage.offlineSeconds * s.events.ratePerSec);
}
