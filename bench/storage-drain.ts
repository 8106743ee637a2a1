// Storage drain benchmark: a backlog of store jobs drained by two store-worker processes through the capacity
// proxy into dynalite. Prints the drain time against the theoretical minimum (total write units ÷ envelope);
// the goal is a ratio ≤ 1.15. The proxy only meters (no limits), so it also shows every 1-second window.
//
//   npx tsx bench/storage-drain.ts [--events 200000] [--envelope 2500] [--workers 2] [--per-job 50] [--devices 2000]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sharedKeys } from '../src/queue/keys.js';
import type { EventsJob } from '../src/queue/jobs.js';
import {
  contiguousWindows,
  enqueueLikeEdge,
  jobsFor,
  makeEvents,
  spawnStoreWorker,
  startStoreRig,
  storeQueueIdle,
  type WorkerProcess,
} from '../test/store-support.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    envelope: { type: 'string', default: '2500' },
    workers: { type: 'string', default: '2' },
    'per-job': { type: 'string', default: '50' },
    devices: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
  },
});
const EVENTS = Number(values.events);
const ENVELOPE = Number(values.envelope);
const WORKERS = Number(values.workers);
const PER_JOB = Number(values['per-job']);
const DEVICES = Math.min(Number(values.devices), EVENTS);
const CONCURRENCY = Number(values.concurrency);

const log = (msg: string) => process.stdout.write(`${msg}\n`);

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // Fields 14 and 15 of proc(5) (utime, stime), counted after the ") " that ends the command name.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function main(): Promise<void> {
  log(`storage drain: ${EVENTS} events, ${DEVICES} devices, ${PER_JOB} events per job, envelope ${ENVELOPE} WCU/s, ${WORKERS} worker processes × ${CONCURRENCY} slots`);
  // dynalite in its own process: the proxy's process stays free to meter.
  const rig = await startStoreRig({
    dynaliteInProcess: false,
    overrides: { storage: { writeUnitsPerSec: ENVELOPE, workerConcurrency: CONCURRENCY } },
  });
  const workers: WorkerProcess[] = [];
  try {
    // The backlog: each device's range split into jobs, devices interleaved as a fleet's batches arrive.
    const perDevice = Math.ceil(EVENTS / DEVICES);
    const byDevice: EventsJob[][] = [];
    let total = 0;
    for (let d = 0; d < DEVICES && total < EVENTS; d++) {
      const n = Math.min(perDevice, EVENTS - total);
      byDevice.push(jobsFor('bench', `dev-${d}`, makeEvents(1, n), PER_JOB));
      total += n;
    }
    const jobs: EventsJob[] = [];
    for (let i = 0; byDevice.some((j) => j[i]); i++) for (const j of byDevice) if (j[i]) jobs.push(j[i]!);

    // Enqueue while paused so that the clock starts with the whole backlog waiting and every worker ready.
    await rig.storeQueue.pause();
    const t0 = Date.now();
    await enqueueLikeEdge(rig, jobs);
    log(`enqueued ${jobs.length} jobs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (let i = 0; i < WORKERS; i++) workers.push(await spawnStoreWorker(rig));
    await Promise.all(workers.map((w) => w.ready));
    rig.proxy.resetStats();
    const pids = { bench: process.pid, dynalite: rig.dynalite.pid, redis: rig.redis.pid, workers: workers.map((w) => w.proc.pid) };
    const cpuBefore = { bench: cpuSeconds(pids.bench), dynalite: cpuSeconds(pids.dynalite), redis: cpuSeconds(pids.redis), workers: pids.workers.map(cpuSeconds) };

    const keys = sharedKeys(rig.config.redis.keyPrefix);
    const started = Date.now();
    await rig.storeQueue.resume();
    let lastItems = 0;
    let lastAt = started;
    for (;;) {
      await new Promise((r) => setTimeout(r, 2_000));
      const s = rig.proxy.stats().totals;
      const now = Date.now();
      const depth = Number((await rig.cmd.get(keys.depthEvents)) ?? 0);
      log(
        `  t=${((now - started) / 1000).toFixed(0).padStart(3)} s  stored ${String(s.items).padStart(7)}  ` +
          `rate ${(((s.items - lastItems) * 1000) / (now - lastAt)).toFixed(0).padStart(5)}/s  depth ${depth}`,
      );
      lastItems = s.items;
      lastAt = now;
      if (depth === 0 && (await storeQueueIdle(rig))) break;
    }

    const stats = rig.proxy.stats();
    const windows = contiguousWindows(stats.windows);
    const last = windows[windows.length - 1]!;
    // Drain time: from resume to the end of the last write's window, at millisecond resolution.
    const lastWriteMs = Math.min(Date.now(), (last.second + 1) * 1000);
    const elapsedS = (lastWriteMs - started) / 1000;
    const minimumS = stats.totals.units / ENVELOPE;
    const full = windows.slice(1, -1).map((w) => w.units);
    const sorted = [...full].sort((a, b) => a - b);
    const cpu = {
      'proxy+bench': cpuSeconds(pids.bench) - cpuBefore.bench,
      dynalite: cpuSeconds(pids.dynalite) - cpuBefore.dynalite,
      redis: cpuSeconds(pids.redis) - cpuBefore.redis,
      workers: pids.workers.reduce((s, pid, i) => s + cpuSeconds(pid) - cpuBefore.workers[i]!, 0),
    };
    const metrics = await Promise.all(workers.splice(0).map((w) => w.stop()));
    log('');
    log(`events stored        ${stats.totals.items} (${stats.totals.units} write units, ${stats.totals.writeRequests} BatchWriteItem calls)`);
    log(`drain time           ${elapsedS.toFixed(1)} s`);
    log(`theoretical minimum  ${minimumS.toFixed(1)} s (${stats.totals.units} units ÷ ${ENVELOPE} WCU/s)`);
    log(`ratio                ${(elapsedS / minimumS).toFixed(3)} (goal ≤ 1.15)`);
    log(
      `full 1-s windows     n=${full.length} max ${Math.max(...full)} (${((Math.max(...full) / ENVELOPE) * 100).toFixed(1)} % of envelope), ` +
        `median ${sorted[Math.floor(sorted.length / 2)]}, min ${sorted[0]}`,
    );
    log(`throttled            ${stats.totals.throttledRequests + stats.totals.unprocessedItems} (the proxy only meters here)`);
    log(
      `CPU seconds          ${Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')} ` +
        `(${((Object.values(cpu).reduce((a, b) => a + b, 0) / elapsedS) * 100).toFixed(0)} % of one core; ` +
        `this machine has 2 cores shared with whatever else runs)`,
    );
    const jobCount = (outcome: string) => metrics.reduce((s, m) => s + (m[`ingest_store_jobs_total{outcome="${outcome}"}`] ?? 0), 0);
    log(`store jobs           completed ${jobCount('completed')}, retried ${jobCount('retried')}, failed ${jobCount('failed')}`);
    log(`items per process    ${metrics.map((m) => m['ingest_store_items_written_total'] ?? 0).join(' + ')}`);
  } finally {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await rig.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
