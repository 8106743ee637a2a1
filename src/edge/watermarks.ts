// Device watermarks in Redis: the highest durably accepted seq of each device. Shared by every
// bridge instance, and never decreasing whatever order two instances write in.
import type { Redis } from 'ioredis';
import type { SharedKeys } from '../queue/keys.js';

const ADVANCE = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(ARGV[1])
if new > cur then redis.call('SET', KEYS[1], ARGV[1]); return new end
return cur
`;

type AdvanceCommand = (key: string, seq: number) => Promise<number>;

export class Watermarks {
  private readonly advanceCommand: AdvanceCommand;

  constructor(
    private readonly redis: Redis,
    private readonly keys: SharedKeys,
  ) {
    if (!('ibWatermarkAdvance' in redis)) redis.defineCommand('ibWatermarkAdvance', { numberOfKeys: 1, lua: ADVANCE });
    this.advanceCommand = (redis as unknown as { ibWatermarkAdvance: AdvanceCommand }).ibWatermarkAdvance.bind(redis);
  }

  async get(tenant: string, device: string): Promise<number> {
    return Number((await this.redis.get(this.keys.watermark(tenant, device))) ?? 0);
  }

  /** Sets the watermark to `seq` unless it is already higher; returns the watermark in force. */
  async advance(tenant: string, device: string, seq: number): Promise<number> {
    return Number(await this.advanceCommand(this.keys.watermark(tenant, device), seq));
  }
}
