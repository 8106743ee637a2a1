// Counters kept by both device clients, so that a fleet can compare them field by field.
import type { Ack } from '../../src/contract/wire.js';

export interface DeviceStats {
  /** Events created on the device. */
  eventsCreated: number;
  /** Events published in batches, resends included. */
  eventsSent: number;
  /** Events published for the first time. */
  freshSent: number;
  /** Events published again (after a deferral, a lost ack, a reconnect or a replay). */
  retriedSent: number;
  batchesSent: number;
  acks: number;
  /** Sum of `accepted` over acks. */
  acceptedReported: number;
  /** Sum of `duplicates` over acks: events sent that were already durable. */
  duplicatesReported: number;
  /** Acks with status partial or deferred. */
  deferrals: number;
  /** Events named in `deferred` ranges. */
  deferredEvents: number;
  /** Deferred events that were resends: retries that failed again (the waste the retry budget bounds). */
  deferredResent: number;
  rejectedBatches: number;
  rejectedEvents: number;
  ackTimeouts: number;
  syncsSent: number;
  /** Connection attempts. */
  connectAttempts: number;
  connects: number;
  /** Refused with CONNACK 3 (server unavailable). */
  connectRefused: number;
  /** Failed otherwise (network error, timeout, other return code). */
  connectFailed: number;
  connectionsLost: number;
  /** Times the retry budget made the device wait instead of resending. */
  budgetWaits: number;
  /** Drain-rate cuts under repeated pressure. */
  rateCuts: number;
  malformedAcks: number;
}

export function emptyStats(): DeviceStats {
  return {
    eventsCreated: 0,
    eventsSent: 0,
    freshSent: 0,
    retriedSent: 0,
    batchesSent: 0,
    acks: 0,
    acceptedReported: 0,
    duplicatesReported: 0,
    deferrals: 0,
    deferredEvents: 0,
    deferredResent: 0,
    rejectedBatches: 0,
    rejectedEvents: 0,
    ackTimeouts: 0,
    syncsSent: 0,
    connectAttempts: 0,
    connects: 0,
    connectRefused: 0,
    connectFailed: 0,
    connectionsLost: 0,
    budgetWaits: 0,
    rateCuts: 0,
    malformedAcks: 0,
  };
}

export function addStats(into: DeviceStats, s: DeviceStats): DeviceStats {
  for (const k of Object.keys(into) as (keyof DeviceStats)[]) into[k] += s[k];
  return into;
}

/** What the fleet needs from either client. */
export interface SimDevice {
  readonly tenant: string;
  readonly device: string;
  readonly stats: DeviceStats;
  /** Highest watermark the bridge has reported to this device (0 before any ack). */
  readonly watermark: number;
  /** seq of the newest event created. */
  readonly lastSeq: number;
  start(): void;
  stop(): void;
  enqueue(type: string, data: Record<string, unknown>, ts?: number): void;
}

/** Called on every decoded ack, for observers (progress, completion times). */
export type AckObserver = (ack: Ack, at: number) => void;
