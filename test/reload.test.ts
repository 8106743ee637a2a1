// Operators tune limits live by editing the config file: the next acks follow within a second,
// a bad edit is refused and reported while the last good limits stay in force.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { startBridgeProcess, writeConfig, type BridgeProcess } from '../src/testing/bridge-process.js';
import { TestDevice, events } from './support/mqtt-device.js';

describe('live config reload', () => {
  let proc: BridgeProcess;
  let file: string;
  let dev: TestDevice;
  let http: string;
  let seq = 1;
  const e = inject('endpoints');
  const prefix = `reload${randomBytes(3).toString('hex')}`;
  const doc = (admission: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    mqtt: { port: 0 },
    http: { port: 0 },
    redis: { url: e.redis, keyPrefix: prefix },
    dynamodb: { endpoint: e.dynamodb, table: `events-${prefix}` },
    opensearch: { node: e.opensearch, index: `events-${prefix}` },
    admission: { device: { ratePerSec: 10000, burst: 100000 }, ...admission },
    ...extra,
  });
  /** Sends a batch of `n` fresh events; returns how many were accepted. */
  const send = async (n: number) => {
    const ack = await dev.send(`b${seq}`, events(seq, seq + n - 1));
    seq = ack.watermark + 1;
    return ack;
  };
  const metrics = async () => (await fetch(`${http}/metrics`)).text();

  beforeAll(async () => {
    file = writeConfig(doc({ maxAcceptPerBatch: 50 }));
    proc = startBridgeProcess(file);
    const ready = await proc.waitFor('bridge ready');
    http = `http://127.0.0.1:${ready['httpPort'] as number}`;
    dev = await TestDevice.connect(ready['mqttPort'] as number, 'acme', 'tuned');
  });
  afterAll(async () => {
    await dev?.close();
    proc?.child.kill('SIGTERM');
    await proc?.exited;
  });

  it('a new maxAcceptPerBatch changes the next acks within a second, on the same connection', async () => {
    expect(await send(100)).toMatchObject({ accepted: 50, reason: 'batch_cap' });
    writeFileSync(file, stringify(doc({ maxAcceptPerBatch: 20 })));
    const t0 = Date.now();
    await expect.poll(async () => (await send(100)).accepted, { timeout: 1000, interval: 50 }).toBe(20);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(dev.client.connected).toBe(true);
  });

  it('a new tenant rate changes the next acks', async () => {
    writeFileSync(file, stringify(doc({ maxAcceptPerBatch: 20, tenants: { default: { ratePerSec: 5000, burst: 20000, maxInFlightBatches: 256 }, acme: { ratePerSec: 1, burst: 5 } } })));
    await expect.poll(async () => (await send(20)).reason, { timeout: 1000, interval: 50 }).toBe('tenant_rate_limited');
    const tenant = (await (await fetch(`${http}/admin/tenants/acme`)).json()) as { limits: { tenant: { ratePerSec: number; burst: number } } };
    expect(tenant.limits.tenant).toMatchObject({ ratePerSec: 1, burst: 5 });
  });

  it('an invalid edit is refused and reported, the old limits stay in force, and fixing it applies the new ones', async () => {
    writeFileSync(file, stringify(doc({ maxAcceptPerBatch: 30, device: { ratePerSec: 100, burst: 1 } })));
    await expect.poll(() => proc.lines.some((l) => String(l['msg']).startsWith('config reload refused')), { timeout: 2000 }).toBe(true);
    const refused = proc.lines.find((l) => String(l['msg']).startsWith('config reload refused'))!;
    expect(String(refused['msg'])).toContain('admission.device.burst: must be ≥ admission.device.ratePerSec');
    expect(await metrics()).toMatch(/ingest_config_last_reload_ok 0/);
    expect(await metrics()).toMatch(/ingest_config_reloads_total\{result="invalid"\} [1-9]/);
    const cfg = (await (await fetch(`${http}/config`)).json()) as { admission: { maxAcceptPerBatch: number } };
    expect(cfg.admission.maxAcceptPerBatch).toBe(20);

    writeFileSync(file, stringify(doc({ maxAcceptPerBatch: 30 })));
    await expect.poll(async () => (await send(100)).accepted, { timeout: 1000, interval: 50 }).toBe(30);
    expect(await metrics()).toMatch(/ingest_config_last_reload_ok 1/);
  });

  it('a key that needs a restart is reported as such, not silently ignored', async () => {
    writeFileSync(file, stringify(doc({ maxAcceptPerBatch: 30 }, { http: { port: 0 }, mqtt: { port: 1 } })));
    await expect.poll(async () => await metrics(), { timeout: 2000 }).toMatch(/ingest_config_restart_pending\{key="mqtt.port"\} 1/);
    expect(proc.lines.some((l) => l['msg'] === 'config keys changed that take effect only after a restart')).toBe(true);
    expect(await send(5)).toMatchObject({ status: 'accepted' });
  });

  it('SIGHUP reloads the file on demand and keeps the bridge running', async () => {
    const count = async () => Number(/ingest_config_reloads_total\{result="unchanged"\} (\d+)/.exec(await metrics())?.[1] ?? 0);
    const before = await count();
    proc.child.kill('SIGHUP');
    await expect.poll(count, { timeout: 2000 }).toBe(before + 1);
    expect(proc.child.exitCode).toBeNull();
    expect(await send(5)).toMatchObject({ status: 'accepted' });
  });
});
