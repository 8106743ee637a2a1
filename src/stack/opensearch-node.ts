/**
 * A single-node OpenSearch 2.19.6 started natively from Maven Central jars (tools/opensearch-local), tethered to
 * this process twice over: the `sh` tether wrapper and the launcher's own stdin watch (`--exit-on-stdin-eof`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { getFreePort, LOOPBACK, sleep, waitForPortFree } from './ports.js';
import { findOnPath, spawnTethered, type TetheredProcess } from './tether.js';

export const OPENSEARCH_VERSION = '2.19.6';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OPENSEARCH_TOOL_DIR = path.join(REPO_ROOT, 'tools', 'opensearch-local');
export const FETCH_SCRIPT = path.join(REPO_ROOT, 'scripts', 'fetch-opensearch.sh');
const CLASSPATH_FILE = path.join(OPENSEARCH_TOOL_DIR, 'target', 'classpath.txt');
const CLASSES_DIR = path.join(OPENSEARCH_TOOL_DIR, 'target', 'classes');
const MAIN_CLASS = 'dev.ingestbridge.opensearch.LocalNode';

export interface OpenSearchNodeOptions {
  /** HTTP port. Default: a free loopback port. */
  port?: number;
  /** JVM heap (-Xms = -Xmx). Default 512. */
  heapMb?: number;
  /** path.data. Given: the caller's folder, never removed. Absent: a fresh temporary folder removed by stop(). */
  dataDir?: string;
  /** Keep a temporary data folder at stop() (its path is `handle.dataDir`), e.g. to start again on it later. */
  keepData?: boolean;
  /** Extra node settings, passed as -Ekey=value (static ones too: thread_pool.write.size, ...). */
  settings?: Record<string, string>;
  /** Extra JVM flags. */
  jvmArgs?: string[];
  /** Give up waiting for a yellow/green cluster after this long. Default 180 s. */
  readyTimeoutMs?: number;
  onProgress?: (msg: string) => void;
  log?: Logger;
}

export interface OpenSearchNodeHandle {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** pid of the running java process (changes after resume()/restart()); undefined while paused. */
  readonly pid: number | undefined;
  readonly dataDir: string;
  readonly homeDir: string;
  /** Stops the node; keeps nothing it created (unless keepData). Idempotent. */
  stop(): Promise<void>;
  /** Stops the java process but keeps port, home and data, so that resume() brings the same node back. */
  pause(): Promise<void>;
  /** Starts the node again on the same port and data; resolves when the cluster is yellow/green. */
  resume(): Promise<void>;
  /** pause() + resume(). */
  restart(): Promise<void>;
}

/** Runs scripts/fetch-opensearch.sh (fast when everything is in place) and returns the java classpath. */
export async function ensureOpenSearchClasspath(onProgress?: (msg: string) => void, log?: Logger): Promise<string> {
  const needsFetch = !existsSync(CLASSPATH_FILE) || !existsSync(CLASSES_DIR);
  if (needsFetch) onProgress?.('opensearch: fetching jars from Maven Central and compiling the launcher (first run) ...');
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [FETCH_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      log?.debug({ output: output.trim() }, 'fetch-opensearch');
      if (code === 0) resolve();
      else reject(new Error(`scripts/fetch-opensearch.sh failed (exit ${code}):\n${output.trim()}`));
    });
  });
  if (needsFetch) onProgress?.(`opensearch: jars ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  const deps = (await readFile(CLASSPATH_FILE, 'utf8')).trim();
  return [CLASSES_DIR, deps].join(path.delimiter);
}

function javaBinary(): string {
  const fromHome = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  if (fromHome && existsSync(fromHome)) return fromHome;
  const onPath = findOnPath('java');
  if (!onPath) {
    throw new Error('java not found (JAVA_HOME or PATH): OpenSearch 2.19 needs Java 17: `apt-get install -y openjdk-17-jdk-headless`');
  }
  return onPath;
}

export async function startOpenSearchNode(opts: OpenSearchNodeOptions = {}): Promise<OpenSearchNodeHandle> {
  const java = javaBinary();
  const classpath = await ensureOpenSearchClasspath(opts.onProgress, opts.log);
  const port = opts.port ?? (await getFreePort());
  const heapMb = opts.heapMb ?? 512;
  const homeDir = await mkdtemp(path.join(os.tmpdir(), 'ingest-bridge-opensearch-home-'));
  const ownsData = opts.dataDir === undefined;
  const dataDir = opts.dataDir
    ? path.resolve(opts.dataDir)
    : await mkdtemp(path.join(os.tmpdir(), 'ingest-bridge-opensearch-data-'));
  await mkdir(dataDir, { recursive: true });
  const url = `http://${LOOPBACK}:${port}`;

  const settings: Record<string, string> = {
    'path.home': homeDir,
    'path.data': dataDir,
    'path.logs': path.join(homeDir, 'logs'),
    'http.port': String(port),
    'transport.port': '0',
    ...opts.settings,
  };
  const args = [
    `-Xms${heapMb}m`,
    `-Xmx${heapMb}m`,
    '-XX:+UseG1GC',
    '-XX:+ExitOnOutOfMemoryError',
    '-XX:-UsePerfData',
    '-Djava.awt.headless=true',
    '-Dfile.encoding=UTF-8',
    '-Dopensearch.set.netty.runtime.available.processors=false',
    '-Dio.netty.noKeySetOptimization=true',
    '-Dio.netty.recycler.maxCapacityPerThread=0',
    '-Dlog4j.shutdownHookEnabled=false',
    '-Dlog4j2.disable.jmx=true',
    `-Djava.io.tmpdir=${path.join(homeDir, 'tmp')}`,
    ...(opts.jvmArgs ?? []),
    '-cp',
    classpath,
    MAIN_CLASS,
    '--exit-on-stdin-eof',
    ...Object.entries(settings).map(([k, v]) => `-E${k}=${v}`),
  ];

  let current: TetheredProcess | undefined;

  const launch = async (): Promise<void> => {
    await mkdir(path.join(homeDir, 'tmp'), { recursive: true });
    const started = Date.now();
    opts.onProgress?.('opensearch: starting');
    const child = await spawnTethered(java, args, {
      name: 'opensearch',
      graceSeconds: 25,
      shareStdin: true,
      log: opts.log,
      removeOnParentDeath: ownsData && !opts.keepData ? [homeDir, dataDir] : [homeDir],
    });
    current = child;
    const ticker = setInterval(() => {
      opts.onProgress?.(`opensearch: starting (${Math.round((Date.now() - started) / 1000)}s)`);
    }, 5_000);
    ticker.unref();
    try {
      await waitForHealth(url, opts.readyTimeoutMs ?? 180_000, () => child.exitInfo() !== undefined);
    } catch (err) {
      const output = child.recentOutput();
      await child.stop();
      current = undefined;
      throw new Error(`${(err as Error).message}${output ? `\nopensearch output:\n${output}` : ''}`);
    } finally {
      clearInterval(ticker);
    }
    opts.log?.info({ url, pid: child.pid, ms: Date.now() - started }, 'opensearch ready');
  };

  const halt = async (): Promise<void> => {
    const child = current;
    current = undefined;
    if (!child) return;
    await child.stop();
    await waitForPortFree(port, 10_000);
  };

  let stopped: Promise<void> | undefined;
  const cleanup = async () => {
    await halt();
    await rm(homeDir, { recursive: true, force: true });
    if (ownsData && !opts.keepData) await rm(dataDir, { recursive: true, force: true });
  };

  try {
    await launch();
  } catch (err) {
    await cleanup();
    throw err;
  }

  return {
    url,
    port,
    get pid() {
      return current?.pid;
    },
    dataDir,
    homeDir,
    stop: () => (stopped ??= cleanup()),
    pause: halt,
    resume: async () => {
      if (stopped) throw new Error('opensearch: resume() after stop()');
      if (current) return;
      await launch();
    },
    restart: async () => {
      await halt();
      await launch();
    },
  };
}

/** Polls GET /_cluster/health until yellow or green. */
export async function waitForHealth(url: string, timeoutMs: number, died: () => boolean = () => false): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    if (died()) throw new Error(`opensearch exited before becoming ready (${url})`);
    try {
      const { status, body } = await httpGet(`${url}/_cluster/health`);
      if (status === 200) {
        const health = (JSON.parse(body) as { status?: string }).status ?? 'unknown';
        if (health === 'yellow' || health === 'green') return health;
        last = `status ${health}`;
      } else {
        last = `HTTP ${status}`;
      }
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) throw new Error(`opensearch not ready on ${url} within ${timeoutMs} ms (${last})`);
    await sleep(250);
  }
}

/** A GET without connection pooling (nothing left open afterwards). */
export function httpGet(url: string, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
