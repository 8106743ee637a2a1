// Runs `npm start`'s entry point (src/main.ts) as a child process and follows its pino log lines.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

export interface BridgeProcess {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves with the first log line matching `msg`. */
  waitFor(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function writeConfig(doc: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ib-proc-')), 'config.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

export function startBridgeProcess(configFile: string, env: NodeJS.ProcessEnv = {}): BridgeProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { msg: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        for (const w of waiters.filter((w) => w.msg === line['msg'])) w.resolve(line);
      } catch {
        // not a log line
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return {
    child,
    lines,
    exited,
    waitFor(msg, timeoutMs = 120_000) {
      const seen = lines.find((l) => l['msg'] === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no "${msg}" log line in ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`)), timeoutMs);
        waiters.push({
          msg,
          resolve: (l) => {
            clearTimeout(timer);
            res(l);
          },
        });
        void exited.then(({ code, signal }) => rej(new Error(`bridge exited (${code ?? signal}) before "${msg}"; stderr: ${stderr.slice(-2000)}`)));
      });
    },
  };
}

/** Every descendant pid of `pid` (children, grandchildren, …). */
export function descendants(pid: number): number[] {
  let out: string;
  try {
    out = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const line of out.trim().split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number) as [number, number];
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const found: number[] = [];
  const stack = [pid];
  while (stack.length) {
    for (const c of children.get(stack.pop()!) ?? []) {
      found.push(c);
      stack.push(c);
    }
  }
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
