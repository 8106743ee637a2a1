// The bridge as an operator runs it: `npm start`'s entry point in its own process.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Queue } from 'bullmq';
import { startBridgeProcess, writeConfig, descendants, isAlive, type BridgeProcess } from '../src/testing/bridge-process.js';
import { startTestBridge } from './support/harness.js';
import { TestDevice, events } from './support/mqtt-device.js';
import { STORE_QUEUE } from '../src/queue/jobs.js';
import { isPortOpen } from '../src/stack/ports.js';

function sharedStackConfig(prefix: string, extra: Record<string, unknown> = {}) {
  const e = inject('endpoints');
  return {
    mqtt: { port: 0 },
    http: { port: 0 },
    redis: { url: e.redis, keyPrefix: prefix },
    dynamodb: { endpoint: e.dynamodb, table: `events-${prefix}` },
    opensearch: { node: e.opensearch, index: `events-${prefix}` },
    ...extra,
  };
}

const running: BridgeProcess[] = [];
afterAll(() => {
  for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

describe('durable before acknowledged', () => {
  it('a bridge killed after the enqueue and before the ack loses nothing, and a resend is reported as duplicates', async () => {
    const prefix = `crash${randomBytes(3).toString('hex')}`;
    // Workers off in the doomed process, so the job is still in Redis when we look.
    const proc = startBridgeProcess(writeConfig(sharedStackConfig(prefix, { storage: { workerConcurrency: 1 } })), {
      BRIDGE_TEST_KILL_BEFORE_ACK: 'doomed',
      BRIDGE_ROLES: 'edge',
    });
    running.push(proc);
    const listening = await proc.waitFor('mqtt listening');
    const dev = await TestDevice.connect(listening['port'] as number, 'acme', 'crashy');
    await expect(dev.send('doomed', events(1, 40))).rejects.toThrow(/no ack/);
    expect((await proc.exited).signal).toBe('SIGKILL');
    await dev.close().catch(() => undefined);

    const q = new Queue(STORE_QUEUE, { connection: { url: inject('endpoints').redis }, prefix });
    const jobs = await q.getJobs(['waiting', 'active', 'completed']);
    await q.close();
    expect(jobs.flatMap((j) => (j.data as { events: { seq: number }[] }).events.map((e) => e.seq))).toEqual(events(1, 40).map((e) => e.seq));

    const tb = await startTestBridge({}, { config: (await import('./support/harness.js')).testConfig({ redis: { keyPrefix: prefix }, dynamodb: { table: `events-${prefix}` }, opensearch: { index: `events-${prefix}` } }) });
    try {
      const again = await TestDevice.connect(tb.bridge.mqttPort, 'acme', 'crashy');
      expect(await again.send('resend', events(1, 40))).toMatchObject({ status: 'accepted', watermark: 40, accepted: 0, duplicates: 40 });
      await again.close();
    } finally {
      await tb.stop();
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM stops accepting, acks what is in flight, and exits 0 in bounded time', async () => {
    const proc = startBridgeProcess(writeConfig(sharedStackConfig(`term${randomBytes(3).toString('hex')}`, { shutdown: { graceMs: 5000 } })));
    running.push(proc);
    const listening = await proc.waitFor('mqtt listening');
    const port = listening['port'] as number;
    const dev = await TestDevice.connect(port, 'acme', 'term');
    const inflight = Array.from({ length: 20 }, (_, i) => dev.send(`g${i}`, events(i * 10 + 1, i * 10 + 10)));
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    proc.child.kill('SIGTERM');
    const acks = await Promise.allSettled(inflight);
    const { code } = await proc.exited;
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
    // Every batch that reached the bridge before SIGTERM got its ack; acked watermarks only grow.
    const got = acks.filter((a) => a.status === 'fulfilled').map((a) => (a as PromiseFulfilledResult<{ watermark: number }>).value.watermark);
    expect(got.length).toBeGreaterThan(0);
    expect([...got].sort((x, y) => x - y)).toEqual(got);
    expect(await isPortOpen(port)).toBe(false);
    await dev.close().catch(() => undefined);
  });
});

describe('npm start on the local defaults', () => {
  it('starts its own stack, turns ready, and leaves no child process or port behind on SIGTERM', async () => {
    const proc = startBridgeProcess(
      writeConfig({ mqtt: { port: 0 }, http: { port: 0 }, stack: { dataDir: `/tmp/ib-start-${randomBytes(3).toString('hex')}`, opensearchHeapMb: 384 } }),
    );
    running.push(proc);
    const t0 = Date.now();
    const ready = await proc.waitFor('bridge ready', 240_000);
    const stackLine = proc.lines.find((l) => l['msg'] === 'local stack ready')!;
    const endpoints = stackLine['endpoints'] as Record<string, string>;
    const res = await fetch(`http://127.0.0.1:${ready['httpPort'] as number}/readyz`);
    expect(res.status).toBe(200);
    const kids = descendants(proc.child.pid!);
    expect(kids.length).toBeGreaterThan(0);
    process.stderr.write(`npm start → ready in ${Date.now() - t0} ms (${kids.length} child processes)\n`);
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    await expect.poll(() => kids.filter(isAlive), { timeout: 20_000 }).toEqual([]);
    for (const url of Object.values(endpoints)) {
      expect(await isPortOpen(Number(new URL(url).port))).toBe(false);
    }
  });
});
