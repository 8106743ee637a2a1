import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'ib-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('loads the defaults with the keys the contract names', () => {
    const c = loadConfig({ env: {} });
    expect(c.mqtt.port).toBe(1883);
    expect(c.http.port).toBe(8080);
    expect(c.redis.url).toBeNull();
    expect(c.dynamodb.table).toBe('device-events');
    expect(c.opensearch.index).toBe('device-events');
    expect(c.limits).toMatchObject({ maxEventsPerBatch: expect.any(Number), maxEventBytes: expect.any(Number), maxPayloadBytes: expect.any(Number) });
    expect(c.admission.maxAcceptPerBatch).toBeGreaterThan(0);
    expect(c.admission.device).toMatchObject({ ratePerSec: expect.any(Number), burst: expect.any(Number) });
    expect(c.admission.tenants['default']).toMatchObject({ ratePerSec: expect.any(Number), burst: expect.any(Number) });
    expect(Object.isFrozen(c.admission)).toBe(true);
  });

  it.each(readdirSync(join(__dirname, '../config/examples')))('loads the shipped example %s', (name) => {
    const c = loadConfig({ file: join(__dirname, '../config/examples', name), env: {} });
    expect(c).toBeDefined();
  });

  it('overlays a file on the defaults, key by key', () => {
    const c = loadConfig({ file: file('o.yaml', 'admission:\n  device:\n    ratePerSec: 7\n'), env: {} });
    expect(c.admission.device).toEqual({ ratePerSec: 7, burst: 500 });
    expect(c.admission.maxAcceptPerBatch).toBe(200);
  });

  it('lets environment variables override endpoints', () => {
    const c = loadConfig({ env: { BRIDGE_REDIS_URL: 'redis://10.0.0.1:6379', BRIDGE_OPENSEARCH_NODE: 'http://os:9200' } });
    expect(c.redis.url).toBe('redis://10.0.0.1:6379');
    expect(c.opensearch.node).toBe('http://os:9200');
  });

  it.each([
    ['unknown key', 'admission:\n  device:\n    brust: 10\n', 'admission.device.brust: unknown key'],
    ['unknown top-level key', 'mqttt:\n  port: 1\n', 'mqttt: unknown key'],
    ['wrong type', 'mqtt:\n  port: "1883"\n', 'mqtt.port: Invalid input: expected number, received string'],
    ['out of range', 'mqtt:\n  port: 70000\n', 'mqtt.port: Too big'],
    ['negative rate', 'admission:\n  device:\n    ratePerSec: -1\n', 'admission.device.ratePerSec'],
    ['inconsistent pair: burst below rate', 'admission:\n  device:\n    ratePerSec: 100\n    burst: 10\n', 'admission.device.burst: must be ≥ admission.device.ratePerSec'],
    ['inconsistent pair: queue max below high-water', 'admission:\n  queue:\n    highWaterEvents: 10\n    maxEvents: 5\n', 'admission.queue.maxEvents: must be > admission.queue.highWaterEvents'],
    ['tenant override inconsistent', 'admission:\n  tenants:\n    acme:\n      ratePerSec: 100000\n', 'admission.tenants.acme.burst'],
    ['bad tenant name', 'admission:\n  tenants:\n    "bad tenant":\n      ratePerSec: 1\n', 'admission.tenants.bad tenant'],
    ['auth on without credentials', 'mqtt:\n  auth:\n    enabled: true\n', 'mqtt.auth.credentialsFile: is required'],
    ['bad enum', 'admission:\n  mode: lenient\n', 'admission.mode'],
    ['YAML syntax', 'mqtt: [port\n', 'line 2, column 1: Flow sequence'],
  ])('%s is refused, naming the key', (_name, yaml, expected) => {
    const err = errorOf(() => loadConfig({ file: file(`bad-${Math.random()}.yaml`, yaml), env: {} }));
    expect(err.issues.join('\n')).toContain(expected);
  });

  it('npm start refuses an invalid config with a one-line error and no stack trace', async () => {
    const bad = file('start-bad.yaml', 'admission:\n  device:\n    brust: 10\n');
    const err = await run('npx', ['tsx', 'src/main.ts', '--config', bad], { cwd: join(__dirname, '..') }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(2);
    const stderr = (err as { stderr: string }).stderr.trim();
    expect(stderr.split('\n')).toHaveLength(1);
    expect(stderr).toContain('admission.device.brust: unknown key');
    expect(stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });
});

describe('docker-compose.yml', () => {
  it('wires the bridge through config keys the schema knows, and its overlay loads', async () => {
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const { ENV_OVERRIDES } = await import('../src/config/load.js');
    const compose = parse(readFileSync(join(__dirname, '../docker-compose.yml'), 'utf8')) as { services: Record<string, { environment?: Record<string, string> }> };
    const env = compose.services['bridge']!.environment!;
    const bridgeVars = Object.keys(env).filter((k) => k.startsWith('BRIDGE_'));
    expect(bridgeVars.sort()).toEqual(['BRIDGE_DYNAMODB_ENDPOINT', 'BRIDGE_OPENSEARCH_NODE', 'BRIDGE_REDIS_URL']);
    for (const v of bridgeVars) expect(ENV_OVERRIDES[v]).toBeDefined();
    const c = loadConfig({ file: join(__dirname, '../config/docker.yaml'), env });
    expect(c.redis.url).toBe('redis://redis:6379');
    expect(c.dynamodb.endpoint).toBe('http://dynamodb:8000');
    expect(c.opensearch.node).toBe('http://opensearch:9200');
    expect(c.mqtt.host).toBe('0.0.0.0');
  });
});
