// The contract client's knobs: a documented optional shape (ContractClientOptions) compiled once into
// a frozen, fully required settings object, with errors that name the field. docs/device-client.md
// explains each knob; the defaults suit a device on a cellular link talking to a default bridge.
import type { BackoffPolicy } from './backoff.js';
import type { PressurePolicy, WindowPolicy } from './pressure-control.js';
import type { RetryBudgetPolicy } from './retry-budget.js';

export interface ContractClientSettings {
  /** The drain pacer: events/s and bucket size in events. */
  drain: { ratePerSec: number; burst: number };
  /** Batch sizing: first window, largest batch, additive growth, linger for partly filled batches. */
  batch: WindowPolicy & { lingerMs: number };
  /** Retry timing after a deferral, an ack timeout or a sync timeout (floored by retryAfterMs). */
  backoff: BackoffPolicy;
  /** Reconnect timing after a refused (CONNACK 3) or lost connection. */
  reconnect: BackoffPolicy;
  /** Resend budget; resends accepted after refundAfterCalmMs (ms) without pressure are refunded. */
  retryBudget: RetryBudgetPolicy & { refundAfterCalmMs: number };
  pressure: PressurePolicy;
  /** Time to wait for the ack of a batch before syncing, ms. */
  ackTimeoutMs: number;
  /** Time to wait for the answer to a sync, ms. */
  syncTimeoutMs: number;
  /** Sync requests without an answer before the connection is dropped and reopened. */
  maxSyncAttempts: number;
  /** Batches awaiting their ack at once. 1 keeps resends to the deferred tail only. */
  maxInFlight: number;
  /** How long an ack's `credit` hint is trusted, ms. */
  creditTtlMs: number;
  /** Most events kept on the device; past it the oldest are dropped and counted. */
  maxBuffered: number;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };
export type ContractClientOptions = DeepPartial<ContractClientSettings>;

export const CONTRACT_DEFAULTS: ContractClientSettings = {
  drain: { ratePerSec: 40, burst: 200 },
  batch: { initial: 25, max: 100, increase: 5, lingerMs: 50 },
  backoff: { baseMs: 250, maxMs: 30_000 },
  reconnect: { baseMs: 1_000, maxMs: 60_000 },
  retryBudget: { ratio: 0.1, minPerSec: 0.2, minBurst: 10, refundAfterCalmMs: 5_000 },
  pressure: { decrease: 0.5, increasePerAck: 2, minRatePerSec: 1, repeat: 2, cooldownMs: 1_000 },
  ackTimeoutMs: 10_000,
  syncTimeoutMs: 10_000,
  maxSyncAttempts: 3,
  maxInFlight: 1,
  creditTtlMs: 1_000,
  maxBuffered: 1_000_000,
};

export class ClientOptionsError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ClientOptionsError';
  }
}

/** Fills defaults, checks ranges and relations, freezes. Throws ClientOptionsError naming the field. */
export function compileContractOptions(opts: ContractClientOptions = {}): Readonly<ContractClientSettings> {
  const d = CONTRACT_DEFAULTS;
  const s: ContractClientSettings = {
    drain: { ...d.drain, ...opts.drain },
    batch: { ...d.batch, ...opts.batch },
    backoff: { ...d.backoff, ...opts.backoff },
    reconnect: { ...d.reconnect, ...opts.reconnect },
    retryBudget: { ...d.retryBudget, ...opts.retryBudget },
    pressure: { ...d.pressure, ...opts.pressure },
    ackTimeoutMs: opts.ackTimeoutMs ?? d.ackTimeoutMs,
    syncTimeoutMs: opts.syncTimeoutMs ?? opts.ackTimeoutMs ?? d.syncTimeoutMs,
    maxSyncAttempts: opts.maxSyncAttempts ?? d.maxSyncAttempts,
    maxInFlight: opts.maxInFlight ?? d.maxInFlight,
    creditTtlMs: opts.creditTtlMs ?? d.creditTtlMs,
    maxBuffered: opts.maxBuffered ?? d.maxBuffered,
  };
  const check = (ok: boolean, field: string, message: string) => {
    if (!ok) throw new ClientOptionsError(field, message);
  };
  const int = (v: number) => Number.isSafeInteger(v);
  check(s.drain.ratePerSec > 0, 'drain.ratePerSec', 'must be > 0');
  check(int(s.drain.burst) && s.drain.burst >= 1, 'drain.burst', 'must be an integer ≥ 1');
  check(int(s.batch.max) && s.batch.max >= 1, 'batch.max', 'must be an integer ≥ 1');
  check(s.batch.max <= s.drain.burst, 'batch.max', 'must be ≤ drain.burst (a batch takes its events from the drain bucket at once)');
  check(int(s.batch.initial) && s.batch.initial >= 1 && s.batch.initial <= s.batch.max, 'batch.initial', 'must be an integer in [1, batch.max]');
  check(int(s.batch.increase) && s.batch.increase >= 1, 'batch.increase', 'must be an integer ≥ 1');
  check(s.batch.lingerMs >= 0, 'batch.lingerMs', 'must be ≥ 0');
  for (const k of ['backoff', 'reconnect'] as const) {
    check(s[k].baseMs >= 0, `${k}.baseMs`, 'must be ≥ 0');
    check(s[k].maxMs >= s[k].baseMs, `${k}.maxMs`, `must be ≥ ${k}.baseMs`);
  }
  check(s.retryBudget.ratio >= 0 && s.retryBudget.ratio <= 1, 'retryBudget.ratio', 'must lie in [0, 1]');
  check(s.retryBudget.minPerSec >= 0, 'retryBudget.minPerSec', 'must be ≥ 0');
  check(s.retryBudget.minBurst >= 0, 'retryBudget.minBurst', 'must be ≥ 0');
  check(s.retryBudget.refundAfterCalmMs >= 0, 'retryBudget.refundAfterCalmMs', 'must be ≥ 0');
  check(s.retryBudget.minPerSec > 0 || s.retryBudget.ratio > 0, 'retryBudget.minPerSec', 'must be > 0 when retryBudget.ratio is 0 (or a deferred event could never be resent)');
  check(s.pressure.decrease > 0 && s.pressure.decrease < 1, 'pressure.decrease', 'must lie in (0, 1)');
  check(s.pressure.increasePerAck >= 0, 'pressure.increasePerAck', 'must be ≥ 0');
  check(s.pressure.minRatePerSec > 0 && s.pressure.minRatePerSec <= s.drain.ratePerSec, 'pressure.minRatePerSec', 'must lie in (0, drain.ratePerSec]');
  check(int(s.pressure.repeat) && s.pressure.repeat >= 1, 'pressure.repeat', 'must be an integer ≥ 1');
  check(s.pressure.cooldownMs >= 0, 'pressure.cooldownMs', 'must be ≥ 0');
  check(s.ackTimeoutMs > 0, 'ackTimeoutMs', 'must be > 0');
  check(s.syncTimeoutMs > 0, 'syncTimeoutMs', 'must be > 0');
  check(int(s.maxSyncAttempts) && s.maxSyncAttempts >= 1, 'maxSyncAttempts', 'must be an integer ≥ 1');
  check(int(s.maxInFlight) && s.maxInFlight >= 1, 'maxInFlight', 'must be an integer ≥ 1');
  check(s.creditTtlMs >= 0, 'creditTtlMs', 'must be ≥ 0');
  check(int(s.maxBuffered) && s.maxBuffered >= 1, 'maxBuffered', 'must be an integer ≥ 1');
  for (const v of Object.values(s)) if (typeof v === 'object') Object.freeze(v);
  return Object.freeze(s);
}
