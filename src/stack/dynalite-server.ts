/**
 * dynalite (DynamoDB API over LevelDB), in this process by default or as a tethered child `node` process.
 */
import { createRequire } from 'node:module';
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import path from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import type { Logger } from 'pino';
import { getFreePort, LOOPBACK, sleep, waitForPortFree } from './ports.js';
import { spawnTethered } from './tether.js';

const require = createRequire(import.meta.url);

interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
type DynaliteFactory = (options: DynaliteOptions) => Server;

export interface DynaliteServerOptions {
  /** Default: a free loopback port. */
  port?: number;
  /** On-disk LevelDB folder; absent: in memory. */
  path?: string;
  /** Run in this process (default) or in a tethered child `node` process. */
  inProcess?: boolean;
  log?: Logger;
}

export interface DynaliteHandle {
  endpoint: string;
  port: number;
  /** pid of the process serving it (this process when in-process). */
  pid: number;
  stop(): Promise<void>;
}

/** A client for the local endpoint (dummy credentials; dynalite checks none). */
export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

export async function startDynalite(opts: DynaliteServerOptions = {}): Promise<DynaliteHandle> {
  const port = opts.port ?? (await getFreePort());
  const dbPath = opts.path ? path.resolve(opts.path) : undefined;
  if (dbPath) await mkdir(dbPath, { recursive: true });
  const endpoint = `http://${LOOPBACK}:${port}`;

  if (opts.inProcess ?? true) {
    const dynalite = require('dynalite') as DynaliteFactory;
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path: dbPath });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, LOOPBACK, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Long enough that SDK clients reuse connections (Node's agent gives up a socket 1 s before the
    // advertised timeout, so 1 s would mean a new TCP connection per call); stop() closes idle ones.
    server.keepAliveTimeout = 5_000;
    opts.log?.info({ port, path: dbPath ?? 'memory' }, 'dynalite ready (in process)');
    let stopped: Promise<void> | undefined;
    return {
      endpoint,
      port,
      pid: process.pid,
      stop: () =>
        (stopped ??= new Promise<void>((resolve, reject) => {
          server.close((err) => (err ? reject(err) : resolve()));
          server.closeAllConnections();
        })),
    };
  }

  const cli = require.resolve('dynalite/cli.js');
  const args = [cli, '--host', LOOPBACK, '--port', String(port), '--createTableMs', '0', '--deleteTableMs', '0', '--updateTableMs', '0'];
  if (dbPath) args.push('--path', dbPath);
  const child = await spawnTethered(process.execPath, args, { name: 'dynalite', graceSeconds: 5, log: opts.log });
  const cleanup = async () => {
    await child.stop();
    await waitForPortFree(port, 5_000);
  };
  try {
    await waitForListTables(endpoint, 20_000, () => child.exitInfo() !== undefined);
  } catch (err) {
    const output = child.recentOutput();
    await cleanup();
    throw new Error(`${(err as Error).message}${output ? `\ndynalite output:\n${output}` : ''}`);
  }
  opts.log?.info({ port, pid: child.pid, path: dbPath ?? 'memory' }, 'dynalite ready (child process)');
  let stopped: Promise<void> | undefined;
  return { endpoint, port, pid: child.pid, stop: () => (stopped ??= cleanup()) };
}

/** Polls ListTables until it answers. */
export async function waitForListTables(endpoint: string, timeoutMs: number, died: () => boolean = () => false): Promise<void> {
  const client = localDynamoClient(endpoint);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (died()) throw new Error(`dynalite exited before answering on ${endpoint}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (err) {
        if (Date.now() >= deadline) {
          throw new Error(`dynalite did not answer ListTables on ${endpoint} within ${timeoutMs} ms: ${(err as Error).message}`);
        }
      }
      await sleep(100);
    }
  } finally {
    client.destroy();
  }
}
