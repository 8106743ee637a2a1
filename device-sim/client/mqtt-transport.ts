// The Connector over MQTT.js: one MQTT 3.1.1 client per connection attempt, with MQTT.js's own
// reconnect switched off, because reconnect timing is the device's job (jittered, see
// contract-device.ts) and a library that reconnects on a fixed period turns a refused storm into a
// synchronized one.
import mqtt from 'mqtt';
import type { CloseInfo, Connection, Connector } from './transport.js';

export interface MqttConnectorOptions {
  /** e.g. mqtt://127.0.0.1:1883 */
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** Keepalive in seconds (MQTT 3.1.1 §3.1.2.10). */
  keepaliveSec?: number;
  /** Time allowed for CONNACK, ms. */
  connectTimeoutMs?: number;
}

export function mqttConnector(opts: MqttConnectorOptions): Connector {
  return (handlers) => {
    let connected = false;
    let ended = false;
    let refusedCode: number | undefined;
    let error: string | undefined;
    const client = mqtt.connect(opts.url, {
      clientId: opts.clientId,
      protocolVersion: 4, // the broker speaks 3.1.1 only; the contract lives in topics and payloads
      clean: true, // the device syncs on every connect, so no broker-side session is needed
      reconnectPeriod: 0,
      keepalive: opts.keepaliveSec ?? 60,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      resubscribe: false,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
    });
    client.on('connect', () => {
      connected = true;
      handlers.onConnect();
    });
    client.on('message', (topic, payload) => handlers.onMessage(topic, payload));
    client.on('error', (err) => {
      // A refused CONNACK arrives as an error carrying the return code, followed by 'close'.
      const code = (err as { code?: unknown }).code;
      if (!connected && typeof code === 'number') refusedCode = code;
      error = err.message;
    });
    client.on('close', () => {
      if (ended) return;
      ended = true;
      const info: CloseInfo = { connected };
      if (refusedCode !== undefined) info.refusedCode = refusedCode;
      if (error !== undefined) info.error = error;
      client.end(true);
      handlers.onClose(info);
    });
    const conn: Connection = {
      publish: (topic, payload) => {
        if (!ended) client.publish(topic, payload, { qos: 1 }, () => {});
      },
      subscribe: (topic, done) => {
        client.subscribe(topic, { qos: 1 }, (err, granted) => {
          if (err) return done(err);
          // 0x80 in a SUBACK is a refusal [MQTT-3.9.3-2].
          if (granted?.some((g) => g.qos === 128)) return done(new Error(`subscription to ${topic} refused`));
          done();
        });
      },
      end: () => {
        ended = true;
        client.end(true);
      },
    };
    return conn;
  };
}
