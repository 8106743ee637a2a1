// The MQTT edge: an Aedes broker (MQTT 3.1.1) whose hooks route the contract's topics to the
// batch handler. Everything the contract says travels in the ack topic's JSON payload: Aedes hook
// errors close the connection (3.1.1 has no negative PUBACK), so they are kept for abuse only.
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type Client } from 'aedes';
import type { Ack } from '../contract/wire.js';
import { encodeAck } from '../contract/wire.js';
import { parseTopic, topicFor } from '../contract/topics.js';
import type { BridgeConfig } from '../config/schema.js';
import { LocalTokenBucket } from '../admission/local-bucket.js';
import { mayPublish, maySubscribe, type DeviceCredentials, type DeviceIdentity } from './auth.js';
import type { BatchHandler } from './batch-handler.js';
import type { EdgeMetrics } from './edge-metrics.js';
import type { Logger } from '../telemetry/logger.js';

export interface EdgeBrokerDeps {
  config: () => BridgeConfig;
  handler: () => BatchHandler;
  metrics: EdgeMetrics;
  credentials: DeviceCredentials | null;
  log: Logger;
}

type AuthError = Error & { returnCode: number };
function authError(returnCode: number, message: string): AuthError {
  return Object.assign(new Error(message), { returnCode });
}

export class EdgeBroker {
  private readonly identities = new WeakMap<Client, DeviceIdentity>();
  private readonly sockets = new Set<Socket>();
  private readonly connectBucket: LocalTokenBucket;
  private broker!: Aedes;
  private server!: Server;
  private serverClosed: Promise<void> | null = null;
  port = 0;

  constructor(private readonly deps: EdgeBrokerDeps) {
    const c = deps.config().mqtt.connect;
    this.connectBucket = new LocalTokenBucket(c.ratePerSec, c.burst);
  }

  reconfigure(cfg: BridgeConfig): void {
    this.connectBucket.reconfigure(cfg.mqtt.connect.ratePerSec, cfg.mqtt.connect.burst);
  }

  async listen(host: string, port: number): Promise<number> {
    const { metrics, log } = this.deps;
    this.broker = await Aedes.createBroker({
      id: `ingest-bridge-${process.pid}`,
      authenticate: (client, username, password, done) => {
        // Connect-storm admission first: refusing costs one CONNACK, no credential check.
        if (!this.connectBucket.tryTake()) {
          metrics.connects.inc({ outcome: 'refused_rate' });
          return done(authError(3, 'server unavailable: connect rate exceeded'), false);
        }
        if (this.deps.credentials) {
          const id = this.deps.credentials.authenticate(username, password);
          if (!id) {
            metrics.connects.inc({ outcome: 'refused_auth' });
            return done(authError(4, 'bad user name or password'), false);
          }
          this.identities.set(client, id);
        }
        metrics.connects.inc({ outcome: 'admitted' });
        done(null, true);
      },
      authorizePublish: (client, packet, done) => {
        if (!client) return done(null); // the broker's own publishes (acks)
        const identity = this.identities.get(client) ?? null;
        if (!mayPublish(packet.topic, identity)) {
          metrics.publishRefused.inc({ reason: parseTopic(packet.topic) ? 'not_own_topic' : 'outside_contract' });
          log.warn({ clientId: client.id, topic: packet.topic }, 'publish outside the device\'s contract topics: closing the connection');
          return done(new Error('publish outside the contract topics'));
        }
        const t = parseTopic(packet.topic)!;
        const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
        // A retained batch would be replayed to every subscriber forever.
        packet.retain = false;
        if (t.kind === 'batch') void this.deps.handler().onBatch(t.tenant, t.device, payload);
        else void this.deps.handler().onSync(t.tenant, t.device);
        done(null);
      },
      authorizeSubscribe: (client, sub, done) => {
        const identity = this.identities.get(client) ?? null;
        // A refused subscription gets SUBACK 0x80 and the connection stays up.
        if (!maySubscribe(sub.topic, identity)) return done(null, null);
        done(null, sub);
      },
    });
    this.broker.on('connectionError', (_client, err) => {
      // [MQTT-3.1.2-2] Aedes answers an unsupported protocol level (MQTT 5) with CONNACK 1.
      if ((err as Error & { errorCode?: number }).errorCode === 1) metrics.connects.inc({ outcome: 'refused_protocol' });
    });
    this.broker.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'client error'));

    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      this.broker.handle(socket);
    });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    return this.port;
  }

  publishAck(tenant: string, device: string, ack: Ack): Promise<void> {
    return new Promise((resolve, reject) => {
      this.broker.publish(
        { cmd: 'publish', topic: topicFor(tenant, device, 'ack'), payload: encodeAck(ack), qos: 1, retain: false, dup: false },
        (err?: Error) => (err ? reject(err) : resolve()),
      );
    });
  }

  get connectedClients(): number {
    return this.broker?.connectedClients ?? 0;
  }

  /**
   * Stops accepting connections; connected devices stay connected so that their in-flight batches
   * are acked. (net.Server.close calls back only once every connection has ended: not awaited here.)
   */
  stopAccepting(): void {
    if (!this.serverClosed) this.serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async close(): Promise<void> {
    this.stopAccepting();
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await this.serverClosed;
  }
}
