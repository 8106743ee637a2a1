import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { GUIDANCE, REFERENCE_FILE, referenceRows, renderReference } from '../src/config/reference.js';
import { ConfigError, loadConfig, readYamlFile, DEFAULT_CONFIG_FILE } from '../src/config/load.js';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'ib-check-'));

/** Every leaf path of a YAML document, with record keys (tenant names) as `<tenant>`. */
function leafPaths(doc: unknown, path: string[] = []): string[] {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return [path.join('.')];
  return Object.entries(doc as Record<string, unknown>).flatMap(([k, v]) => leafPaths(v, [...path, path.join('.') === 'admission.tenants' ? '<tenant>' : k]));
}

describe('the config reference', () => {
  it('is the generated one (run `npm run config:reference` after changing the schema)', () => {
    expect(readFileSync(REFERENCE_FILE, 'utf8')).toBe(renderReference());
  });

  it('documents every key of the schema, and every key in the defaults file is in the schema', () => {
    const keys = referenceRows().map((r) => r.key);
    const reference = readFileSync(REFERENCE_FILE, 'utf8');
    for (const k of keys) expect(reference).toContain(`| \`${k}\` |`);
    for (const k of new Set(leafPaths(readYamlFile(DEFAULT_CONFIG_FILE)))) expect(keys).toContain(k);
    for (const r of referenceRows()) expect(r.description.length, `${r.key} has no description`).toBeGreaterThan(10);
  });

  it('gives guidance only for keys that exist', () => {
    const keys = new Set(referenceRows().map((r) => r.key));
    for (const k of Object.keys(GUIDANCE)) expect(keys.has(k), k).toBe(true);
  });
});

describe('npm run config:check', () => {
  it.each([
    ['unknown key', 'admission:\n  device:\n    brust: 1\n'],
    ['out of range', 'admission:\n  maxAcceptPerBatch: 0\n'],
    ['inconsistent pair', 'opensearch:\n  concurrency:\n    min: 5\n    max: 2\n'],
    ['YAML syntax', 'admission: [\n'],
  ])('catches the same error as start-up (%s) and exits 1', async (_name, yaml) => {
    const file = join(dir, `${Math.random()}.yaml`);
    writeFileSync(file, yaml);
    let startupIssues: string[] = [];
    try {
      loadConfig({ file, env: {} });
    } catch (err) {
      startupIssues = (err as ConfigError).issues;
    }
    expect(startupIssues.length).toBeGreaterThan(0);
    const res = await run('npx', ['tsx', 'src/config/check-cli.ts', file], { cwd: ROOT }).catch((e: { code: number; stderr: string }) => e);
    expect((res as { code: number }).code).toBe(1);
    for (const issue of startupIssues) expect((res as { stderr: string }).stderr).toContain(issue);
  });

  it('prints the effective merged config with credentials redacted, and exits 0', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'redis:\n  url: redis://ingest:s3cret@redis.internal:6379\nadmission:\n  maxAcceptPerBatch: 120\n');
    const { stdout } = await run('npx', ['tsx', 'src/config/check-cli.ts', file], { cwd: ROOT, env: { ...process.env, BRIDGE_REDIS_URL: '' } });
    expect(stdout).toContain('maxAcceptPerBatch: 120');
    expect(stdout).toContain('writeUnitsPerSec: 1000'); // a default, merged in
    expect(stdout).toContain('redis://ingest:***@redis.internal:6379');
    expect(stdout).not.toContain('s3cret');
  });
});
