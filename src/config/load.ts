import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { configSchema, type BridgeConfig } from './schema.js';

export const DEFAULT_CONFIG_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../../config/default.yaml');

/** A config that cannot be used; `issues` name each offending key. Its message is one line per issue. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`invalid config (${source}): ${issues.join('; ')}`);
    this.name = 'ConfigError';
  }
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; anything else in the overlay replaces the base. */
export function deepMerge(base: unknown, overlay: unknown): unknown {
  if (!isPlain(base) || !isPlain(overlay)) return overlay === undefined ? base : overlay;
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(overlay)) out[k] = deepMerge(base[k], v);
  return out;
}

export function readYamlFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  try {
    const doc = parseYaml(text) as unknown;
    if (doc === null || doc === undefined) return {};
    if (!isPlain(doc)) throw new ConfigError(file, ['the file must hold a mapping of keys at its top level']);
    return doc;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as YAMLParseError;
    const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : 'YAML';
    throw new ConfigError(file, [`${where}: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`]);
  }
}

/** Renders zod issues as `dotted.key: message`, unknown keys named one by one. */
export function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  const out: string[] = [];
  for (const i of issues) {
    const path = i.path.map(String).join('.');
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push(`${path ? `${path}.` : ''}${k}: unknown key`);
    } else if (i.code === 'invalid_type' && /received undefined/.test(i.message)) {
      out.push(`${path}: is required`);
    } else {
      out.push(`${path || '(root)'}: ${i.message}`);
    }
  }
  return out;
}

/** Environment variables that override endpoints (for containers and CI). */
export const ENV_OVERRIDES: Record<string, string[]> = {
  BRIDGE_REDIS_URL: ['redis', 'url'],
  BRIDGE_DYNAMODB_ENDPOINT: ['dynamodb', 'endpoint'],
  BRIDGE_OPENSEARCH_NODE: ['opensearch', 'node'],
  BRIDGE_MQTT_HOST: ['mqtt', 'host'],
  BRIDGE_HTTP_HOST: ['http', 'host'],
};

function envOverlay(env: NodeJS.ProcessEnv): Plain {
  const overlay: Plain = {};
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    let node = overlay;
    for (const k of path.slice(0, -1)) node = (node[k] ??= {}) as Plain;
    node[path[path.length - 1]!] = v;
  }
  return overlay;
}

function deepFreeze<T>(o: T): T {
  if (isPlain(o) || Array.isArray(o)) {
    for (const v of Object.values(o as object)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export interface LoadOptions {
  /** An operator's YAML file overlaid on the defaults. */
  file?: string;
  /** In-code overlay applied last (tests, tools). */
  overrides?: unknown;
  env?: NodeJS.ProcessEnv;
  defaultsFile?: string;
}

/** Validates an already merged document. */
export function validateConfig(doc: unknown, source: string): BridgeConfig {
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) throw new ConfigError(source, formatIssues(parsed.error.issues));
  return deepFreeze(parsed.data);
}

/** defaults ← file ← environment ← overrides, validated by the one schema, frozen. */
export function loadConfig(opts: LoadOptions = {}): BridgeConfig {
  const defaults = readYamlFile(opts.defaultsFile ?? DEFAULT_CONFIG_FILE);
  let merged = defaults;
  if (opts.file) merged = deepMerge(merged, readYamlFile(opts.file));
  merged = deepMerge(merged, envOverlay(opts.env ?? process.env));
  if (opts.overrides !== undefined) merged = deepMerge(merged, opts.overrides);
  return validateConfig(merged, opts.file ?? 'defaults');
}
