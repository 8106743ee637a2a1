/**
 * The local stack with real services (redis-server, dynalite, an OpenSearch node from Maven Central jars): no mocks.
 * Needs redis-server on PATH (Debian's redis-server), Java 17 and Maven (the first run fetches OpenSearch's jars).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { Client as OpenSearchClient } from '@opensearch-project/opensearch';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoClient } from '../src/stack/dynalite-server.js';
import { startLocalStack, type LocalStack } from '../src/stack/local-stack.js';
import { isPortFree, isPortOpen } from '../src/stack/ports.js';
import { REDIS_NOT_FOUND_MESSAGE, startRedis } from '../src/stack/redis-server.js';
import { pidAlive, waitForPidGone } from '../src/stack/tether.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'src', 'stack', 'cli.ts');
const TSX_CLI = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');

const portOf = (url: string) => Number(new URL(url).port);

describe('local stack, in memory, in this process', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({ inMemory: true });
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('starts all three services and reports their endpoints', () => {
    expect(stack.started.sort()).toEqual(['dynamodb', 'opensearch', 'redis']);
    expect(stack.endpoints.redis).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.endpoints.dynamodb).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.endpoints.opensearch).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('Redis answers PING', async () => {
    const redis = new Redis(stack.endpoints.redis, { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
    } finally {
      redis.disconnect();
    }
  });

  it('dynalite answers ListTables', async () => {
    const client = localDynamoClient(stack.endpoints.dynamodb);
    try {
      const out = await client.send(new ListTablesCommand({}));
      expect(Array.isArray(out.TableNames)).toBe(true);
    } finally {
      client.destroy();
    }
  });

  it('OpenSearch cluster health is not red', async () => {
    const client = new OpenSearchClient({ node: stack.endpoints.opensearch });
    try {
      const health = await client.cluster.health();
      expect(['green', 'yellow']).toContain(health.body.status);
      expect(health.body.number_of_nodes).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('OpenSearch can be paused and resumed on the same port with its data', async () => {
    const node = stack.handles.opensearch!;
    const client = new OpenSearchClient({ node: stack.endpoints.opensearch });
    try {
      await client.index({ index: 'stack-test', id: 'one', body: { n: 1 }, refresh: true });
      const firstPid = node.pid!;
      await node.pause();
      expect(node.pid).toBeUndefined();
      expect(pidAlive(firstPid)).toBe(false);
      expect(await isPortOpen(node.port)).toBe(false);
      await node.resume();
      expect(node.pid).not.toBe(firstPid);
      const doc = await client.get({ index: 'stack-test', id: 'one' });
      expect(doc.body._source).toEqual({ n: 1 });
    } finally {
      await client.close();
    }
  }, 120_000);

  it('stop() leaves no child process, frees the ports and removes the temporary folders', async () => {
    const pids = [stack.pids.redis!, stack.handles.opensearch!.pid!];
    const homeDir = stack.handles.opensearch!.homeDir;
    const dataDirs = [stack.handles.opensearch!.dataDir, stack.handles.redis!.dataDir];
    for (const pid of pids) expect(pidAlive(pid)).toBe(true);
    await stack.stop();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    for (const url of Object.values(stack.endpoints)) expect(await isPortFree(portOf(url))).toBe(true);
    for (const dir of [homeDir, ...dataDirs]) expect(existsSync(dir)).toBe(false);
  }, 60_000);
});

describe('missing redis-server', () => {
  it('startRedis fails with the install hint', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(startRedis()).rejects.toThrow(REDIS_NOT_FOUND_MESSAGE);
      // The stack checks before starting anything slow.
      const t0 = Date.now();
      await expect(startLocalStack({ inMemory: true })).rejects.toThrow(REDIS_NOT_FOUND_MESSAGE);
      expect(Date.now() - t0).toBeLessThan(2_000);
    } finally {
      process.env.PATH = saved;
    }
  });

  it('the CLI exits 1 with the install hint', async () => {
    // A PATH with node alone (node's own folder may be /usr/bin, which holds redis-server too).
    const binDir = await mkdtemp(path.join(os.tmpdir(), 'stack-test-path-'));
    await symlink(process.execPath, path.join(binDir, 'node'));
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--memory'], {
      cwd: ROOT,
      env: { ...process.env, PATH: binDir },
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain(REDIS_NOT_FOUND_MESSAGE);
    await rm(binDir, { recursive: true, force: true });
  }, 30_000);
});

describe('tether', () => {
  it('a tethered child dies when its Node parent is SIGKILLed', async () => {
    const script = [
      "import { spawnTethered } from './src/stack/tether.ts';",
      "const t = await spawnTethered('sleep', ['600'], { graceSeconds: 2 });",
      'console.log(t.pid);',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT });
    const pid = Number(await firstLine(parent.stdout));
    expect(pidAlive(pid)).toBe(true);
    parent.kill('SIGKILL');
    expect(await waitForPidGone(pid, 5_000)).toBe(true);
  }, 30_000);
});

interface CliRun {
  child: ChildProcessWithoutNullStreams;
  endpoints: { redis: string; dynamodb: string; opensearch: string };
  pids: Record<string, number>;
  stderr: () => string;
}

/** Starts the CLI and waits for its JSON line. `viaTsxLauncher`: the tsx CLI (two node processes), else one. */
async function startCli(viaTsxLauncher = false, env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  const args = viaTsxLauncher ? [TSX_CLI, CLI, '--memory'] : ['--import', 'tsx', CLI, '--memory'];
  const child = spawn(process.execPath, args, { cwd: ROOT, env });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`CLI exited (${code}) before printing endpoints:\n${stderr}`))),
  );
  const line = await Promise.race([firstLine(child.stdout), exited]);
  const endpoints = JSON.parse(line) as CliRun['endpoints'];
  const pidsLine = /stack: pids (.*)/.exec(stderr)?.[1] ?? '';
  const pids = Object.fromEntries(pidsLine.split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k!, Number(v)]));
  return { child, endpoints, pids, stderr: () => stderr };
}

async function expectAllGone(run: CliRun, withinMs: number): Promise<void> {
  // dynamodb runs inside the CLI process: its pid is the CLI node process itself.
  const children = [run.pids.redis!, run.pids.opensearch!, run.pids.dynamodb!];
  expect(children.every((pid) => Number.isInteger(pid) && pid > 0)).toBe(true);
  for (const pid of children) {
    expect(await waitForPidGone(pid, withinMs), `pid ${pid} still alive`).toBe(true);
  }
  for (const url of Object.values(run.endpoints)) {
    const port = portOf(url);
    const deadline = Date.now() + 5_000;
    while (!(await isPortFree(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await isPortFree(port), `port ${port} still taken`).toBe(true);
  }
}

describe('npm run stack (CLI)', () => {
  it('prints one JSON line, then stops everything on SIGTERM and exits 0', async () => {
    const run = await startCli();
    expect(Object.keys(run.endpoints).sort()).toEqual(['dynamodb', 'opensearch', 'redis']);
    expect(await isPortOpen(portOf(run.endpoints.opensearch))).toBe(true);
    const exit = new Promise<number | null>((resolve) => run.child.once('exit', resolve));
    run.child.kill('SIGTERM');
    expect(await exit).toBe(0);
    await expectAllGone(run, 1_000);
  }, 240_000);

  it('its redis-server and java die within seconds when the CLI process is SIGKILLed, and their temp data goes', async () => {
    // A private TMPDIR: the stack's temporary folders (redis dir, OpenSearch home and data) are made in it.
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'stack-test-tmp-'));
    try {
      const run = await startCli(false, { ...process.env, TMPDIR: tmp });
      for (const pid of [run.pids.redis!, run.pids.opensearch!]) expect(pidAlive(pid)).toBe(true);
      // (tsx keeps its own cache folder there too.)
      const ours = async () => (await readdir(tmp)).filter((name) => name.startsWith('ingest-bridge-'));
      expect((await ours()).length).toBe(3);
      run.child.kill('SIGKILL');
      await expectAllGone(run, 10_000);
      const deadline = Date.now() + 10_000;
      while ((await ours()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await ours()).toEqual([]);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }, 240_000);

  it('everything stops when the tsx launcher in front of the CLI is SIGKILLed', async () => {
    const run = await startCli(true);
    run.child.kill('SIGKILL');
    await expectAllGone(run, 15_000);
  }, 240_000);
});

function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer | string) => {
      buffer += chunk.toString();
      const nl = buffer.indexOf('\n');
      if (nl >= 0) {
        stream.off('data', onData);
        resolve(buffer.slice(0, nl));
      }
    };
    stream.on('data', onData);
    stream.once('end', () => reject(new Error(`stream ended before a line: ${buffer}`)));
  });
}
