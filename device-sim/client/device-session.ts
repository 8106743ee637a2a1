// The connection lifecycle of a contract device: connect; subscribe to the ack topic and, once the
// SUBACK is in, sync; re-sync on request; replace a connection whose syncs go unanswered; reconnect
// after a refused or lost connection with growing full jitter. It knows nothing of batches: acks go
// to the device, which owns the contract logic (contract-device.ts).
import { decodeAck, type Ack } from '../../src/contract/wire.js';
import { topicFor } from '../../src/contract/topics.js';
import { retryDelay, type BackoffPolicy } from './backoff.js';
import type { Clock, Random, Timer } from './clock.js';
import type { DeviceStats } from './device-stats.js';
import type { CloseInfo, Connection, Connector, DeviceLog } from './transport.js';

export type SessionState = 'idle' | 'connecting' | 'waiting_reconnect' | 'syncing' | 'ready' | 'stopped';

export interface SessionSettings {
  reconnect: BackoffPolicy;
  /** Delay between unanswered syncs on one connection. */
  backoff: BackoffPolicy;
  syncTimeoutMs: number;
  maxSyncAttempts: number;
}

export interface SessionHandlers {
  /** Every decoded ack; `synced` when it is the answer that made the session ready. */
  onAck(ack: Ack, synced: boolean): void;
  /** The connection is gone (lost, refused, replaced or stopped): nothing in flight will be acked. */
  onDown(): void;
}

export class DeviceSession {
  private conn: SessionState = 'idle';
  private connection: Connection | null = null;
  /** Bumped on every connection attempt; callbacks of older attempts are ignored. */
  private epoch = 0;
  private reconnectAttempt = 0;
  private syncAttempts = 0;
  private syncTimer: Timer | null = null;
  private reconnectTimer: Timer | null = null;
  private readonly topics: { batch: string; sync: string; ack: string };

  constructor(
    private readonly tenant: string,
    private readonly device: string,
    private readonly connector: Connector,
    private readonly settings: SessionSettings,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly log: DeviceLog,
    private readonly stats: DeviceStats,
    private readonly handlers: SessionHandlers,
  ) {
    this.topics = { batch: topicFor(tenant, device, 'batch'), sync: topicFor(tenant, device, 'sync'), ack: topicFor(tenant, device, 'ack') };
  }

  get state(): SessionState {
    return this.conn;
  }

  /** Identifies the current connection (batch ids carry it). */
  get connectionEpoch(): number {
    return this.epoch;
  }

  start(): void {
    if (this.conn !== 'idle' && this.conn !== 'stopped') return;
    this.conn = 'idle';
    this.connect();
  }

  stop(): void {
    this.conn = 'stopped';
    this.epoch++;
    this.clearSyncTimer();
    if (this.reconnectTimer) this.clock.clearTimer(this.reconnectTimer);
    this.reconnectTimer = null;
    this.connection?.end();
    this.connection = null;
    this.handlers.onDown();
  }

  /** Publishes a batch on the current connection (only when ready). */
  publishBatch(payload: string): void {
    if (this.conn === 'ready') this.connection?.publish(this.topics.batch, payload);
  }

  /** Asks for the watermark again on the current connection (after a lost ack). */
  resync(): void {
    if (this.conn !== 'ready' && this.conn !== 'syncing') return;
    this.syncAttempts = 0;
    this.sendSync();
  }

  private connect(): void {
    this.reconnectTimer = null;
    if (this.conn === 'stopped') return;
    this.conn = 'connecting';
    const epoch = ++this.epoch;
    this.stats.connectAttempts++;
    this.connection = this.connector({
      onConnect: () => epoch === this.epoch && this.onConnect(epoch),
      onMessage: (topic, payload) => epoch === this.epoch && this.onMessage(topic, payload),
      onClose: (info) => epoch === this.epoch && this.onClose(info),
    });
  }

  private onConnect(epoch: number): void {
    this.stats.connects++;
    this.conn = 'syncing';
    this.syncAttempts = 0;
    // Subscribe before the sync, and sync only once the SUBACK is in: an ack published before the
    // subscription exists would be lost (clean session, nothing is queued for us).
    this.connection?.subscribe(this.topics.ack, (err) => {
      if (epoch !== this.epoch) return;
      if (err) {
        this.log.warn({ device: this.device, err: err.message }, 'ack subscription refused; reconnecting');
        this.replaceConnection();
        return;
      }
      this.sendSync();
    });
  }

  private onClose(info: CloseInfo): void {
    this.connection = null;
    this.clearSyncTimer();
    if (info.connected) this.stats.connectionsLost++;
    else if (info.refusedCode === 3) this.stats.connectRefused++;
    else this.stats.connectFailed++;
    this.handlers.onDown();
    this.scheduleReconnect();
  }

  /** A refused or lost connection comes back after a full-jitter delay: a fleet refused together must not retry together. */
  private scheduleReconnect(): void {
    if (this.conn === 'stopped') return;
    this.conn = 'waiting_reconnect';
    const delay = retryDelay(this.reconnectAttempt++, this.settings.reconnect, this.random);
    this.reconnectTimer = this.clock.setTimer(delay, () => this.connect());
  }

  private replaceConnection(): void {
    this.epoch++;
    this.connection?.end();
    this.connection = null;
    this.clearSyncTimer();
    this.handlers.onDown();
    this.scheduleReconnect();
  }

  private sendSync(): void {
    if (!this.connection) return;
    this.conn = 'syncing';
    this.stats.syncsSent++;
    this.syncAttempts++;
    this.connection.publish(this.topics.sync, '{}');
    this.clearSyncTimer();
    this.syncTimer = this.clock.setTimer(this.settings.syncTimeoutMs, () => this.onSyncTimeout());
  }

  private onSyncTimeout(): void {
    this.syncTimer = null;
    if (this.conn !== 'syncing') return;
    if (this.syncAttempts >= this.settings.maxSyncAttempts) {
      // A connection that answers nothing is likely half-open: a new one is cheaper than waiting.
      this.log.warn({ device: this.device, tenant: this.tenant, attempts: this.syncAttempts }, 'sync unanswered; reconnecting');
      this.replaceConnection();
      return;
    }
    const delay = retryDelay(this.syncAttempts - 1, this.settings.backoff, this.random);
    const epoch = this.epoch;
    this.syncTimer = this.clock.setTimer(delay, () => epoch === this.epoch && this.sendSync());
  }

  private clearSyncTimer(): void {
    if (this.syncTimer) this.clock.clearTimer(this.syncTimer);
    this.syncTimer = null;
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic !== this.topics.ack) return;
    let ack: Ack;
    try {
      ack = decodeAck(payload);
    } catch (err) {
      this.stats.malformedAcks++;
      this.log.warn({ device: this.device, err: (err as Error).message }, 'malformed ack ignored');
      return;
    }
    let synced = false;
    if (ack.status === 'sync' && this.conn === 'syncing') {
      this.clearSyncTimer();
      this.conn = 'ready';
      this.reconnectAttempt = 0;
      synced = true;
    }
    this.handlers.onAck(ack, synced);
  }
}
