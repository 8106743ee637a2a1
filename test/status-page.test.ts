// The status page, as an operator sees it: rendered by headless Chromium against a live bridge.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge, type TestBridge } from './support/harness.js';
import { TestDevice, events } from './support/mqtt-device.js';

const run = promisify(execFile);

/** The DOM of `url` after its scripts ran for `ms` of virtual time, from Debian's Chromium. */
async function renderedDom(url: string, ms: number): Promise<string> {
  const { stdout } = await run(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${mkdtempSync(join(tmpdir(), 'ib-chromium-'))}`,
      `--virtual-time-budget=${ms}`,
      '--dump-dom',
      url,
    ],
    { timeout: 60_000, maxBuffer: 10 * 1024 * 1024 },
  );
  return stdout;
}

describe('the status page', () => {
  let tb: TestBridge;
  beforeAll(async () => {
    tb = await startTestBridge({ admission: { maxAcceptPerBatch: 40, device: { ratePerSec: 1, burst: 60 } } });
    const dev = await TestDevice.connect(tb.bridge.mqttPort, 'petco', 'feeder-9');
    await dev.send('s1', events(1, 100)); // 40 accepted, batch_cap
    await dev.send('s2', events(41, 100)); // 20 accepted, device_rate_limited
    await dev.send('s3', events(1, 20)); // duplicates
    await dev.close();
  });
  afterAll(async () => tb?.stop());

  it('shows acceptance vs deferral, queue depth, indexing lag and per-tenant pressure', async () => {
    const dom = await renderedDom(`http://127.0.0.1:${tb.bridge.httpPort}/status`, 3000);
    expect(dom).toContain('mode contract');
    expect(dom).toMatch(/id="depth">\d+</);
    expect(dom).toMatch(/id="lag">\d+\.\d</);
    expect(dom).toContain('breaker closed');
    // The tenant row: 60 accepted (40 + 20), 20 duplicates, 100 deferred (60 by the cap, then 40 by the bucket)
    const row = /<tr><td>petco<\/td><td>(\d+)<\/td><td>(\d+)<\/td><td>(\d+)<\/td>/.exec(dom);
    expect(row?.slice(1).map(Number)).toEqual([60, 20, 100]);
    expect(dom).toContain('<span class="pill">device_rate_limited</span>');
    expect(dom).toContain('<span class="pill">batch_cap</span>');
    expect(dom).toMatch(/retry amplification \d+\.\d\d×/);
  });

  it('is served at / as well', async () => {
    const res = await fetch(`http://127.0.0.1:${tb.bridge.httpPort}/`);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('<title>ingest bridge · status</title>');
  });
});
