// Indexing lag, measured and published for the edge.
//
// Lag = age of the oldest accepted event not yet indexed. The events not yet indexed are in index jobs
// that wait in the queue or that an indexer holds. The queue is FIFO (BullMQ LPUSHes new jobs and
// workers take from the right), so the oldest waiting job is the rightmost of the wait list; the jobs
// an indexer holds are known in memory. Each indexer publishes
//   max(now − acceptedAt of the oldest waiting job, now − acceptedAt of the oldest job it holds)
// to one shared key with a short TTL (a dead indexer stops holding the edge back once it expires).
// With several indexers the key carries the last writer's view: the waiting part is the same for all,
// the held part differs by at most one bulk round trip unless one of them is cut off from OpenSearch.
import type { Redis } from 'ioredis';
import { PRESSURE_TTL_MS, type SearchPressure } from '../queue/keys.js';

export interface WaitingHead {
  /** Index jobs waiting in the queue. */
  waitingJobs: number;
  /** acceptedAt of the oldest waiting job (its queue timestamp if the data cannot be read), or null. */
  oldestAcceptedAt: number | null;
  /** Events in the oldest waiting job (a sample for the backlog estimate), 0 if none. */
  oldestEvents: number;
}

// KEYS[1]: the wait list. ARGV[1]: the job hash prefix (`{prefix}:{queue}:`).
// Decoding one job on the server costs less than shipping its events to us every poll.
const WAITING_HEAD_SCRIPT = `
local n = redis.call('LLEN', KEYS[1])
if n == 0 then return {0, -1, 0} end
local id = redis.call('LINDEX', KEYS[1], -1)
if not id then return {n, -1, 0} end
local key = ARGV[1] .. id
local data = redis.call('HGET', key, 'data')
local acc = -1
local events = 0
if data then
  local ok, job = pcall(cjson.decode, data)
  if ok and type(job) == 'table' then
    if type(job.acceptedAt) == 'number' then acc = job.acceptedAt end
    if type(job.events) == 'table' then events = #job.events end
  end
end
if acc == -1 then
  local ts = tonumber(redis.call('HGET', key, 'timestamp'))
  if ts then acc = ts end
end
return {n, acc, events}
`;

const COMMAND = 'ingestIndexWaitingHead';

export async function readWaitingHead(redis: Redis, waitKey: string, jobKeyPrefix: string): Promise<WaitingHead> {
  const r = redis as Redis & { [COMMAND]?: (key: string, prefix: string) => Promise<[number, number, number]> };
  if (!r[COMMAND]) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: WAITING_HEAD_SCRIPT });
  const [waitingJobs, acc, oldestEvents] = await r[COMMAND]!(waitKey, jobKeyPrefix);
  return { waitingJobs, oldestAcceptedAt: acc >= 0 ? acc : null, oldestEvents };
}

/** Age of the oldest of the given acceptedAt times (nulls ignored); 0 when there is none. */
export function lagMsOf(now: number, ...acceptedAt: Array<number | null>): number {
  let oldest = Infinity;
  for (const a of acceptedAt) if (a !== null && a < oldest) oldest = a;
  return oldest === Infinity ? 0 : Math.max(0, now - oldest);
}

/** Events per job, smoothed: turns a count of waiting jobs into an estimate of waiting documents. */
export class EventsPerJob {
  private mean: number | null = null;
  constructor(private readonly alpha = 0.1) {}
  observe(events: number): void {
    if (events <= 0) return;
    this.mean = this.mean === null ? events : this.mean + this.alpha * (events - this.mean);
  }
  get value(): number {
    return this.mean ?? 1;
  }
}

export async function publishSearchPressure(redis: Redis, key: string, p: SearchPressure): Promise<void> {
  await redis.set(key, JSON.stringify(p), 'PX', PRESSURE_TTL_MS);
}
