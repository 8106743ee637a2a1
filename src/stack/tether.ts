/**
 * Child processes that die with their Node parent, even when the parent is SIGKILLed.
 *
 * The child is started by a tiny POSIX `sh` wrapper whose stdin is a pipe from this process. Only this process holds
 * the pipe's write end (libuv opens it close-on-exec), so when this process exits for any reason, the wrapper reads
 * EOF, sends SIGTERM to the child and, after a grace period, SIGKILL. Closing the pipe on purpose is also how
 * `stop()` asks the child to end, so the parent-death path is the one exercised on every ordinary stop.
 *
 * When the EOF came from the parent's death (the parent pid is gone or a zombie within 3 s after the child ended), the
 * wrapper also removes the `removeOnParentDeath` folders (temporary data nobody else would clean up).
 *
 * The wrapper reports the real child's pid on fd 3, forwards SIGTERM/SIGINT/SIGHUP it receives to the child, and
 * exits with the child's exit status. With `shareStdin`, the child also gets the tether pipe as its stdin (for
 * programs that watch stdin themselves, like our OpenSearch launcher), otherwise /dev/null.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';

const WRAPPER = String.raw`
grace_ds=$1; share=$2; cleanup=$3; shift 3
exec 4<&0
if [ "$share" = 1 ]; then "$@" <&4 3>&- 4<&- & else "$@" </dev/null 3>&- 4<&- & fi
child=$!
echo "$child" >&3
exec 3>&-
(
  while IFS= read -r _line; do :; done <&4
  trap '' TERM
  kill -TERM "$child" 2>/dev/null
  n=0
  while kill -0 "$child" 2>/dev/null; do
    n=$((n + 1))
    if [ "$n" -gt "$grace_ds" ]; then kill -KILL "$child" 2>/dev/null; break; fi
    sleep 0.1
  done
  if [ -n "$cleanup" ]; then
    while kill -0 "$child" 2>/dev/null; do sleep 0.1; done
    n=0
    while [ "$n" -lt 30 ]; do
      state=$(sed 's/.*) //' "/proc/$PPID/stat" 2>/dev/null | cut -d' ' -f1)
      if ! kill -0 "$PPID" 2>/dev/null || [ "$state" = Z ] || [ "$state" = X ]; then
        printf '%s\n' "$cleanup" | while IFS= read -r dir; do [ -n "$dir" ] && rm -rf -- "$dir"; done
        break
      fi
      n=$((n + 1))
      sleep 0.1
    done
  fi
) &
watcher=$!
exec 4<&- 0</dev/null
trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP
while :; do
  wait "$child"
  code=$?
  kill -0 "$child" 2>/dev/null || break
done
kill "$watcher" 2>/dev/null
exit "$code"
`;

export interface TetherOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Seconds between SIGTERM and SIGKILL when the tether closes. Default 10. */
  graceSeconds?: number;
  /** Give the child the tether pipe as stdin too (it can watch for EOF itself). Default false (/dev/null). */
  shareStdin?: boolean;
  /** Name used in messages and logs. Default: basename of the command. */
  name?: string;
  log?: Logger;
  /** Lines of the child's stdout+stderr kept for error messages. Default 80. */
  keepLines?: number;
  /** Folders the wrapper removes (rm -rf) after the child has exited when the parent died (never on stop()). */
  removeOnParentDeath?: string[];
  /** Called for every line the child writes (stdout and stderr). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TetheredProcess {
  readonly name: string;
  /** pid of the real child (not of the wrapper). */
  readonly pid: number;
  /** pid of the `sh` wrapper. */
  readonly wrapperPid: number;
  /** Resolves when the wrapper (and so the child) has exited. */
  readonly exited: Promise<ExitInfo>;
  /** Undefined while running. */
  exitInfo(): ExitInfo | undefined;
  /** The last lines the child wrote (stdout and stderr mixed), for error messages. */
  recentOutput(): string;
  /** Closes the tether: SIGTERM, SIGKILL after the grace period; resolves once the child's pid is gone. */
  stop(): Promise<ExitInfo>;
}

/** Absolute path of an executable found on PATH (or undefined). */
export function findOnPath(command: string, envPath: string | undefined = process.env.PATH): string | undefined {
  if (command.includes('/')) return isExecutable(command) ? path.resolve(command) : undefined;
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** True while a process with this pid exists (zombies included). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits until the pid is gone; false on timeout. */
export async function waitForPidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/**
 * Starts `command args` tethered to this process. Resolves once the child has been forked (its pid is known);
 * readiness of the service is the caller's business.
 */
export function spawnTethered(command: string, args: readonly string[], opts: TetherOptions = {}): Promise<TetheredProcess> {
  const name = opts.name ?? path.basename(command);
  const graceSeconds = opts.graceSeconds ?? 10;
  const keepLines = opts.keepLines ?? 80;
  const sh = findOnPath('sh', opts.env?.PATH ?? process.env.PATH) ?? '/bin/sh';

  const child: ChildProcess = spawn(
    sh,
    ['-c', WRAPPER, `tether:${name}`, String(Math.max(1, Math.round(graceSeconds * 10))),
      opts.shareStdin ? '1' : '0',
      (opts.removeOnParentDeath ?? []).map((d) => path.resolve(d)).join('\n'),
      command,
      ...args,
    ],
    { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] },
  );

  const lines: string[] = [];
  const remember = (line: string, stream: 'stdout' | 'stderr') => {
    lines.push(line);
    if (lines.length > keepLines) lines.shift();
    opts.log?.debug({ child: name, stream }, line);
    opts.onLine?.(line, stream);
  };
  readLines(child.stdout!, (l) => remember(l, 'stdout'));
  readLines(child.stderr!, (l) => remember(l, 'stderr'));
  // Never let a write to the tether fail loudly (EPIPE once the wrapper is gone).
  child.stdin!.on('error', () => {});

  let info: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      info = { code, signal };
      child.stdin!.destroy();
      resolve(info);
    });
  });

  return new Promise<TetheredProcess>((resolve, reject) => {
    let pidText = '';
    const fd3 = child.stdio[3] as Readable;
    const onSpawnError = (err: Error) => reject(new Error(`${name}: could not start ${sh}: ${err.message}`));
    child.once('error', onSpawnError);
    fd3.on('data', (chunk: Buffer) => {
      pidText += chunk.toString('utf8');
    });
    fd3.once('close', () => {
      child.off('error', onSpawnError);
      const pid = Number.parseInt(pidText.trim(), 10);
      if (!Number.isInteger(pid) || pid <= 0) {
        void exited.then(() =>
          reject(new Error(`${name}: the tether wrapper did not report a pid; output:\n${lines.join('\n')}`)),
        );
        child.stdin!.destroy();
        return;
      }
      let stopping: Promise<ExitInfo> | undefined;
      const handle: TetheredProcess = {
        name,
        pid,
        wrapperPid: child.pid!,
        exited,
        exitInfo: () => info,
        recentOutput: () => lines.join('\n'),
        stop: () => {
          stopping ??= (async () => {
            child.stdin!.end();
            const boundMs = graceSeconds * 1000 + 3_000;
            const timer = new Promise<undefined>((r) => {
              setTimeout(() => r(undefined), boundMs).unref();
            });
            const result = await Promise.race([exited, timer]);
            if (!(await waitForPidGone(pid, result ? 2_000 : 0))) {
              try {
                process.kill(pid, 'SIGKILL');
              } catch {
                /* gone meanwhile */
              }
              await waitForPidGone(pid, 5_000);
            }
            if (!result && child.exitCode === null && child.signalCode === null) {
              child.kill('SIGKILL');
            }
            const killed: ExitInfo = { code: null, signal: 'SIGKILL' };
            const fallback = new Promise<ExitInfo>((r) => {
              const t = setTimeout(() => r(killed), 2_000);
              t.unref();
            });
            return await Promise.race([exited, fallback]);
          })();
          return stopping;
        },
      };
      opts.log?.debug({ child: name, pid, wrapperPid: child.pid }, 'tethered child started');
      resolve(handle);
    });
  });
}

function readLines(stream: Readable, onLine: (line: string) => void): void {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, nl).replace(/\r$/, ''));
      buffer = buffer.slice(nl + 1);
    }
    if (buffer.length > 64 * 1024) {
      onLine(buffer);
      buffer = '';
    }
  });
  stream.on('end', () => {
    if (buffer) onLine(buffer);
  });
  stream.on('error', () => {});
}
