// The device clients talk to MQTT through this narrow port, so that their logic runs unchanged over
// MQTT.js (mqtt-transport.ts), an in-memory bridge in unit tests (loopback-bridge.ts) or whatever
// MQTT stack a device already has. One Connection is one network connection: reconnecting is the
// device's decision (with jitter), never the transport's.

export interface CloseInfo {
  /** True when the connection had been established (CONNACK 0) before it closed: a lost connection. */
  connected: boolean;
  /** The CONNACK return code of a refused connection (3 = server unavailable, as in a connect storm). */
  refusedCode?: number;
  /** A short description of the network error, when there was one. */
  error?: string;
}

export interface TransportHandlers {
  /** CONNACK 0 received. */
  onConnect(): void;
  onMessage(topic: string, payload: Buffer): void;
  /** Called exactly once per connection attempt that did not end by `Connection.end()`. */
  onClose(info: CloseInfo): void;
}

export interface Connection {
  /** QoS 1 publish. Fire and forget: the contract's ack, not the PUBACK, says what became durable. */
  publish(topic: string, payload: string): void;
  /** QoS 1 subscription; `done` runs once the SUBACK is in (with an error if it was refused). */
  subscribe(topic: string, done: (err?: Error) => void): void;
  /** Closes the connection; no onClose follows. */
  end(): void;
}

/** Opens one connection attempt. */
export type Connector = (handlers: TransportHandlers) => Connection;

/** What a device logs; pino's Logger fits. */
export interface DeviceLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export const silentLog: DeviceLog = { warn: () => {}, error: () => {}, debug: () => {} };
