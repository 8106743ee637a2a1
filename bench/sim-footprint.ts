// The simulator's own footprint: CPU (user + system seconds per simulated minute) and peak RSS of
// the process that simulates N devices, at 1,000 and 5,000 devices by default.
//
//   npx tsx bench/sim-footprint.ts                     # starts its own bridge (in another process)
//   npx tsx bench/sim-footprint.ts --mqtt mqtt://127.0.0.1:1883 --http http://127.0.0.1:8080
//   npx tsx bench/sim-footprint.ts --sizes 1000,5000 --live 60 --backlog 30
//
// Each fleet size runs in a fresh child process, so that its peak RSS is its own; the bridge runs in
// yet another process, so that its CPU is not counted. The fleet: storm-1000.yaml resized, every
// device reconnecting at once with a small backlog, then producing live events for --live seconds.
// Against the default connect admission (200/s, burst 500) a large fleet sees CONNACK 3 refusals and
// reconnects with jitter: part of what is measured.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { runFleet } from '../device-sim/fleet.js';
import { startLocalBridge } from '../device-sim/local-bridge.js';
import { buildReport } from '../device-sim/report.js';
import { loadScenario, withOverrides } from '../device-sim/scenario.js';

const SCENARIO = 'device-sim/scenarios/storm-1000.yaml';
// The bench's own bridge: storage and admission opened up so that a 5,000-device run is bounded by
// the fleet, not by a 1,000 writes/s envelope (the figures measured are the simulator's).
const BENCH_BRIDGE = {
  log: { level: 'error' },
  storage: { writeUnitsPerSec: 5000, workerConcurrency: 16 },
  admission: { tenants: { default: { ratePerSec: 20000, burst: 50000 } } },
};

interface Measure {
  devices: number;
  fleetWallSec: number;
  cpuUserSec: number;
  cpuSystemSec: number;
  cpuSecPerSimMinute: number;
  peakRssMb: number;
  drained: boolean;
  originalEvents: number;
  retryAmplification: number;
  connectRefused: number;
  backlogP95Sec: number | null;
}

const { values: v } = parseArgs({
  options: {
    mqtt: { type: 'string' },
    http: { type: 'string' },
    sizes: { type: 'string', default: '1000,5000' },
    live: { type: 'string', default: '60' },
    backlog: { type: 'string', default: '30' },
    scenario: { type: 'string', default: SCENARIO },
    // internal modes
    'serve-bridge': { type: 'boolean', default: false },
    measure: { type: 'string' },
  },
});

async function serveBridge(): Promise<void> {
  const lb = await startLocalBridge(BENCH_BRIDGE, (m) => process.stderr.write(`[stack] ${m}\n`), 'error');
  process.stdout.write(`${JSON.stringify({ mqtt: lb.mqttUrl, http: lb.httpUrl })}\n`);
  // Tethered to the parent: stdin closes when it exits, whatever the way.
  process.stdin.resume();
  process.stdin.on('end', () => void lb.stop().finally(() => process.exit(0)));
  process.on('SIGTERM', () => void lb.stop().finally(() => process.exit(0)));
}

async function measure(devices: number): Promise<void> {
  const scenario = withOverrides(loadScenario(v.scenario!), {
    fleet: { devices },
    outage: { backlogEvents: Number(v.backlog) },
    run: { liveSeconds: Number(v.live), deadlineSeconds: Number(v.live) + 300 },
    verify: { enabled: false },
  });
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 250);
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const result = await runFleet({ scenario, mqttUrl: v.mqtt! });
  const cpu = process.cpuUsage(cpu0);
  const wall = (Date.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  const report = buildReport(result, { skipped: 'footprint run' });
  const m: Measure = {
    devices,
    fleetWallSec: Math.round(wall * 10) / 10,
    cpuUserSec: Math.round(cpu.user / 1e4) / 100,
    cpuSystemSec: Math.round(cpu.system / 1e4) / 100,
    cpuSecPerSimMinute: Math.round(((cpu.user + cpu.system) / 1e6 / (wall / 60)) * 100) / 100,
    peakRssMb: Math.round(peak / 1024 / 1024),
    drained: result.drained,
    originalEvents: report.totals.originalEvents,
    retryAmplification: report.totals.retryAmplification,
    connectRefused: report.totals.connectRefused,
    backlogP95Sec: report.totals.backlogCompletionSec.p95,
  };
  process.stdout.write(`${JSON.stringify(m)}\n`);
  process.exit(0);
}

function child(args: string[]): { proc: ReturnType<typeof spawn>; firstLine: Promise<string> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: proc.stdout! });
  const firstLine = new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`child ${args.join(' ')} exited with ${code} before answering`)));
  });
  return { proc, firstLine };
}

async function main(): Promise<void> {
  if (v['serve-bridge']) return serveBridge();
  if (v.measure) return measure(Number(v.measure));

  let mqtt = v.mqtt;
  let http = v.http;
  let bridge: ReturnType<typeof spawn> | null = null;
  if (!mqtt) {
    process.stderr.write('bench: starting a bridge in its own process…\n');
    const c = child(['--serve-bridge']);
    bridge = c.proc;
    const ep = JSON.parse(await c.firstLine) as { mqtt: string; http: string };
    mqtt = ep.mqtt;
    http = ep.http;
  }
  const results: Measure[] = [];
  try {
    for (const n of v.sizes!.split(',').map(Number)) {
      process.stderr.write(`bench: ${n} devices against ${mqtt}…\n`);
      const c = child(['--measure', String(n), '--mqtt', mqtt, ...(http ? ['--http', http] : []), '--live', v.live!, '--backlog', v.backlog!, '--scenario', v.scenario!]);
      results.push(JSON.parse(await c.firstLine) as Measure);
      await new Promise((r) => c.proc.once('exit', r));
    }
  } finally {
    bridge?.stdin?.end();
    bridge?.kill('SIGTERM');
  }
  process.stdout.write(`\nsim footprint (live ${v.live}s at the scenario's rate, backlog ${v.backlog} events/device, one process per size)\n`);
  process.stdout.write('devices  fleet wall s  cpu user s  cpu sys s  cpu s / sim min  peak RSS MB  drained  refused connects  amplification  backlog p95 s\n');
  for (const m of results) {
    process.stdout.write(
      `${String(m.devices).padStart(7)}  ${String(m.fleetWallSec).padStart(12)}  ${String(m.cpuUserSec).padStart(10)}  ${String(m.cpuSystemSec).padStart(9)}  ${String(m.cpuSecPerSimMinute).padStart(15)}  ${String(m.peakRssMb).padStart(11)}  ${String(m.drained).padStart(7)}  ${String(m.connectRefused).padStart(16)}  ${String(m.retryAmplification).padStart(13)}  ${String(m.backlogP95Sec).padStart(13)}\n`,
    );
  }
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
