// Live reload: when the config file changes (or on SIGHUP) the new file is validated first; a valid
// one is applied to every live key at once, an invalid one is refused and the bridge keeps running
// on the last good config. Keys that cannot change live are reported, never silently ignored.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ConfigError, validateConfig } from './load.js';
import { RESTART_KEYS, type BridgeConfig } from './schema.js';
import type { Logger } from '../telemetry/logger.js';

type Plain = Record<string, unknown>;

function getPath(o: unknown, path: string[]): unknown {
  return path.reduce<unknown>((n, k) => (n && typeof n === 'object' ? (n as Plain)[k] : undefined), o);
}

function setPath(o: Plain, path: string[], value: unknown): Plain {
  const [head, ...rest] = path as [string, ...string[]];
  return { ...o, [head]: rest.length === 0 ? value : setPath((o[head] as Plain) ?? {}, rest, value) };
}

/** The restart-only keys whose value differs between two configs. */
export function restartKeysChanged(current: BridgeConfig, next: BridgeConfig): string[] {
  return RESTART_KEYS.filter((k) => JSON.stringify(getPath(current, k.split('.'))) !== JSON.stringify(getPath(next, k.split('.'))));
}

/** `next` with every restart-only key kept at its current value. */
export function keepRestartKeys(current: BridgeConfig, next: BridgeConfig): BridgeConfig {
  let merged = next as unknown as Plain;
  for (const k of RESTART_KEYS) merged = setPath(merged, k.split('.'), getPath(current, k.split('.')));
  return validateConfig(merged, 'reload');
}

export interface ConfigWatcherOptions {
  file: string;
  /** Loads the file as start-up does (defaults ← file ← environment ← runtime endpoints). */
  load: () => BridgeConfig;
  current: () => BridgeConfig;
  apply: (next: BridgeConfig) => void;
  registry: Registry;
  log: Logger;
  debounceMs?: number;
}

export class ConfigWatcher {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly reloads: Counter<'result'>;
  private readonly lastOk: Gauge;
  private readonly restartPending: Gauge<'key'>;
  private readonly onHup = () => this.reload('SIGHUP');

  constructor(private readonly opts: ConfigWatcherOptions) {
    const registers = [opts.registry];
    this.reloads = new Counter({ name: 'ingest_config_reloads_total', help: 'Config reloads by result: applied, unchanged, invalid.', labelNames: ['result'], registers });
    this.lastOk = new Gauge({ name: 'ingest_config_last_reload_ok', help: '1 when the last config reload was applied (or nothing was reloaded yet), 0 when it was refused as invalid.', registers });
    this.restartPending = new Gauge({ name: 'ingest_config_restart_pending', help: '1 for each restart-only key whose value in the file differs from the running one.', labelNames: ['key'], registers });
    this.lastOk.set(1);
  }

  start(): void {
    // Watch the folder, not the file: editors save by writing a new file and renaming it over the old.
    const name = basename(this.opts.file);
    this.watcher = watch(dirname(this.opts.file), (_event, changed) => {
      if (changed !== null && changed.toString() !== name) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.reload('file change'), this.opts.debounceMs ?? 100);
    });
    process.on('SIGHUP', this.onHup);
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
    process.off('SIGHUP', this.onHup);
  }

  /** Validates and applies the file; returns whether a new config is in force. */
  reload(trigger: string): boolean {
    const { log } = this.opts;
    let loaded: BridgeConfig;
    try {
      loaded = this.opts.load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.reloads.inc({ result: 'invalid' });
      this.lastOk.set(0);
      log.error({ trigger, file: this.opts.file, issues: err.issues }, `config reload refused, keeping the last good config: ${err.issues.join('; ')}`);
      return false;
    }
    const current = this.opts.current();
    const needRestart = restartKeysChanged(current, loaded);
    this.restartPending.reset();
    for (const key of needRestart) this.restartPending.set({ key }, 1);
    if (needRestart.length > 0) log.warn({ keys: needRestart }, 'config keys changed that take effect only after a restart');
    const next = keepRestartKeys(current, loaded);
    this.lastOk.set(1);
    if (JSON.stringify(next) === JSON.stringify(current)) {
      this.reloads.inc({ result: 'unchanged' });
      return false;
    }
    this.opts.apply(next);
    this.reloads.inc({ result: 'applied' });
    log.info({ trigger, file: this.opts.file }, 'config reloaded');
    return true;
  }
}
