/**
 * A real `redis-server` (Debian's package) on a loopback port, tethered to this process.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { getFreePort, LOOPBACK, sleep, waitForPortFree } from './ports.js';
import { findOnPath, spawnTethered } from './tether.js';

export const REDIS_NOT_FOUND_MESSAGE =
  "redis-server not found on PATH: install Debian's package with `apt-get install -y redis-server`";

export interface RedisOptions {
  /** Default: a free loopback port. */
  port?: number;
  /** Folder for the append-only file. Absent: a fresh temporary folder, removed by stop(). */
  dataDir?: string;
  /** AOF persistence (appendfsync everysec). Default true. */
  appendonly?: boolean;
  /** Give up waiting for PING after this long. Default 20 s. */
  readyTimeoutMs?: number;
  log?: Logger;
}

export interface RedisHandle {
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** Throws the install hint when redis-server is not on PATH. */
export function assertRedisServerOnPath(envPath: string | undefined = process.env.PATH): string {
  const bin = findOnPath('redis-server', envPath);
  if (!bin) throw new Error(REDIS_NOT_FOUND_MESSAGE);
  return bin;
}

export async function startRedis(opts: RedisOptions = {}): Promise<RedisHandle> {
  const bin = assertRedisServerOnPath();
  const port = opts.port ?? (await getFreePort());
  const ownsDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir
    ? path.resolve(opts.dataDir)
    : await mkdtemp(path.join(os.tmpdir(), 'ingest-bridge-redis-'));
  await mkdir(dataDir, { recursive: true });
  const appendonly = opts.appendonly ?? true;

  const args = [
    '--bind', LOOPBACK,
    '--port', String(port),
    '--protected-mode', 'no',
    '--daemonize', 'no',
    '--save', '',
    '--appendonly', appendonly ? 'yes' : 'no',
    '--appendfsync', 'everysec',
    '--dir', dataDir,
    '--logfile', '',
    '--loglevel', 'warning',
  ];
  const child = await spawnTethered(bin, args, {
    name: 'redis-server',
    graceSeconds: 10,
    log: opts.log,
    removeOnParentDeath: ownsDir ? [dataDir] : [],
  });

  const cleanup = async () => {
    await child.stop();
    await waitForPortFree(port, 5_000);
    if (ownsDir) await rm(dataDir, { recursive: true, force: true });
  };

  try {
    await waitForPing(port, opts.readyTimeoutMs ?? 20_000, () => child.exitInfo() !== undefined);
  } catch (err) {
    const output = child.recentOutput();
    await cleanup();
    throw new Error(`${(err as Error).message}${output ? `\nredis-server output:\n${output}` : ''}`);
  }
  opts.log?.info({ port, pid: child.pid, dataDir }, 'redis-server ready');

  let stopped: Promise<void> | undefined;
  return {
    url: `redis://${LOOPBACK}:${port}`,
    port,
    pid: child.pid,
    dataDir,
    stop: () => (stopped ??= cleanup()),
  };
}

/** Sends PING until +PONG (a loading server answers -LOADING). */
async function waitForPing(port: number, timeoutMs: number, died: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (died()) throw new Error(`redis-server exited before answering PING on port ${port}`);
    if (await ping(port)) return;
    if (Date.now() >= deadline) throw new Error(`redis-server did not answer PING on port ${port} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** One PING over a raw RESP connection; true on +PONG. */
export function ping(port: number, host: string = LOOPBACK, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    let reply = '';
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
