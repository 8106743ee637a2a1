// A Connector whose far end is the test itself: it records what the device publishes and lets the
// test answer with exact acks, refuse or drop connections. For unit tests of device code.
import { topicFor } from '../../src/contract/topics.js';
import { encodeAck, type Ack, type Batch } from '../../src/contract/wire.js';
import type { Clock } from './clock.js';
import type { CloseInfo, Connector, TransportHandlers } from './transport.js';

export interface Published {
  at: number;
  topic: string;
  kind: 'batch' | 'sync' | 'other';
  batch?: Batch;
}

export class ScriptedConnector {
  readonly published: Published[] = [];
  attempts = 0;
  /** Answer of the next connection attempts, in order; 'accept' once the list is empty. */
  plan: ('accept' | 'refuse')[] = [];
  private handlers: TransportHandlers | null = null;
  private subscribed = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly tenant: string,
    private readonly device: string,
  ) {}

  readonly connector: Connector = (handlers) => {
    this.attempts++;
    const answer = this.plan.shift() ?? 'accept';
    let open = true;
    this.clock.setTimer(5, () => {
      if (!open) return;
      if (answer === 'refuse') {
        open = false;
        handlers.onClose({ connected: false, refusedCode: 3 });
      } else {
        this.handlers = handlers;
        handlers.onConnect();
      }
    });
    return {
      publish: (topic, payload) => {
        if (!open) return;
        const kind = topic.endsWith('/batch') ? 'batch' : topic.endsWith('/sync') ? 'sync' : 'other';
        const p: Published = { at: this.clock.now(), topic, kind };
        if (kind === 'batch') p.batch = JSON.parse(payload) as Batch;
        this.published.push(p);
      },
      subscribe: (topic, done) => {
        this.subscribed.add(topic);
        done();
      },
      end: () => {
        open = false;
        if (this.handlers === handlers) this.handlers = null;
      },
    };
  };

  get connected(): boolean {
    return this.handlers !== null;
  }

  batches(): Batch[] {
    return this.published.filter((p) => p.batch).map((p) => p.batch!);
  }

  lastBatch(): Batch {
    const b = this.batches();
    if (b.length === 0) throw new Error('no batch published');
    return b[b.length - 1]!;
  }

  syncs(): number {
    return this.published.filter((p) => p.kind === 'sync').length;
  }

  /** Delivers an ack on the device's ack topic (only if it subscribed). */
  ack(ack: Ack): void {
    const topic = topicFor(this.tenant, this.device, 'ack');
    if (!this.handlers || !this.subscribed.has(topic)) throw new Error('device is not connected and subscribed');
    this.handlers.onMessage(topic, encodeAck(ack));
  }

  /** Acks the last batch: everything accepted. */
  acceptLast(extra: Partial<Ack> = {}): void {
    const b = this.lastBatch();
    const last = b.events[b.events.length - 1]!.seq;
    this.ack({ batchId: b.batchId, status: 'accepted', watermark: last, accepted: b.events.length, duplicates: 0, ...extra });
  }

  /** Drops the live connection (the device sees a lost connection). */
  drop(info: CloseInfo = { connected: true, error: 'lost' }): void {
    const h = this.handlers;
    this.handlers = null;
    this.subscribed.clear();
    h?.onClose(info);
  }
}
