import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backlogPerDevice, loadScenario, parseScenario, ScenarioError, withOverrides } from './scenario.js';

const minimal = () => ({
  name: 'unit',
  fleet: { devices: 10, tenants: [{ name: 'acme', share: 1 }] },
  events: { ratePerSec: 1 },
  outage: { offlineSeconds: 60 },
  reconnect: { pattern: 'at_once' },
  run: { deadlineSeconds: 30 },
});

function issues(doc: unknown): string[] {
  try {
    parseScenario(doc, 'test');
  } catch (e) {
    if (e instanceof ScenarioError) return e.issues;
    throw e;
  }
  return [];
}

describe('scenario schema', () => {
  it.each(readdirSync(new URL('./scenarios/', import.meta.url)).filter((f) => f.endsWith('.yaml')))('ships %s, valid', (file) => {
    const s = loadScenario(new URL(`./scenarios/${file}`, import.meta.url).pathname);
    expect(s.name).toBe(file.replace(/\.yaml$/, ''));
  });

  it('fills defaults', () => {
    const s = parseScenario(minimal());
    expect(s.fleet.naiveShare).toBe(0);
    expect(s.events.firstSeq).toBe(1);
    expect(s.verify).toEqual({ enabled: true, waitSeconds: 90 });
    expect(backlogPerDevice(s)).toBe(60);
  });

  const set = (path: string, value: unknown) => {
    const doc = minimal() as Record<string, unknown>;
    const keys = path.split('.');
    let node = doc;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    if (value === undefined) delete node[keys[keys.length - 1]!];
    else node[keys[keys.length - 1]!] = value;
    return doc;
  };

  it.each([
    ['fleet.devices', 0, 'fleet.devices: must be ≥ 1'],
    ['fleet.devices', 2.5, 'fleet.devices: must be an integer'],
    ['fleet.devices', 'many', 'fleet.devices: must be a number'],
    ['fleet.naiveShare', 1.5, 'fleet.naiveShare: must be ≤ 1'],
    ['fleet.tenants', [{ name: 'acme', share: 0.5 }], 'fleet.tenants: shares must add up to 1 (they add up to 0.5)'],
    ['fleet.tenants', [{ name: 'a/b', share: 1 }], 'fleet.tenants.0.name: must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'],
    ['fleet.devcies', 3, 'fleet.devcies: unknown key'],
    ['run.deadlineSeconds', undefined, 'run.deadlineSeconds: is required'],
    ['reconnect.pattern', 'sometimes', 'reconnect.pattern: must be at_once or spread'],
    ['reconnect.pattern', 'spread', 'reconnect.windowSeconds: must be > 0 when reconnect.pattern is spread'],
    ['contract.batch', { max: 500 }, 'contract.batch.max: must be ≤ drain.burst (a batch takes its events from the drain bucket at once)'],
    ['contract.retryBudget', { ratio: 2 }, 'contract.retryBudget.ratio: must be ≤ 1'],
    ['contract.backof', {}, 'contract.backof: unknown key'],
    ['naive.batchSize', 0, 'naive.batchSize: must be ≥ 1'],
    ['events.ratePerSec', 0, 'events.ratePerSec: is 0, so the outage makes no backlog: set events.ratePerSec or outage.backlogEvents'],
  ] as [string, unknown, string][])('%s = %j is refused naming the key', (path, value, message) => {
    expect(issues(set(path, value))).toContain(message);
  });

  it('lists every problem, not only the first', () => {
    const doc = set('fleet.devices', 0);
    (doc['run'] as Record<string, unknown>)['deadlineSeconds'] = -1;
    expect(issues(doc)).toEqual(expect.arrayContaining(['fleet.devices: must be ≥ 1', 'run.deadlineSeconds: must be ≥ 1']));
  });

  it('withOverrides merges and validates again', () => {
    const s = parseScenario(minimal());
    expect(withOverrides(s, { fleet: { devices: 5000 } }).fleet.devices).toBe(5000);
    expect(() => withOverrides(s, { fleet: { devices: -1 } })).toThrow(/fleet\.devices: must be ≥ 1/);
  });

  it('a missing file is an error naming the file', () => {
    expect(() => loadScenario('/nonexistent/x.yaml')).toThrow(/\/nonexistent\/x\.yaml.*cannot read file: ENOENT/s);
  });
});
