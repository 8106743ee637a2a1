// npm run sim -- SCENARIO.yaml [options]: runs a scenario's fleet against a bridge, verifies the
// stores, prints a summary (stdout) and writes the JSON report. Progress goes to stderr.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { DeviceLog } from './client/transport.js';
import { startLocalBridge, targetFromStatus, type LocalBridge } from './local-bridge.js';
import { formatSummary } from './report.js';
import { runScenario } from './run-scenario.js';
import { loadScenario, ScenarioError, withOverrides } from './scenario.js';
import { StderrProgress } from './progress.js';
import type { VerifyTarget } from './verify.js';

const USAGE = `usage: npm run sim -- SCENARIO.yaml [options]

  --mqtt URL          bridge MQTT listener (default mqtt://127.0.0.1:1883)
  --http URL          bridge admin HTTP, read for verification endpoints (default http://127.0.0.1:8080)
  --start-bridge      start the local stack and a bridge in this process, with the scenario's bridge overrides
  --dynamodb URL      verification endpoints and names, instead of GET /status.json
  --opensearch URL
  --table NAME
  --index NAME
  --region NAME       DynamoDB region (default us-east-1)
  --report FILE       write the JSON report to FILE
  --json              print the JSON report on stdout (the summary then goes to stderr)
  --devices N         override fleet.devices
  --naive-share X     override fleet.naiveShare (0–1)
  --no-verify         skip the verification against DynamoDB and OpenSearch

Exit status: 0 when every backlog drained and verification passed (or was skipped), 1 otherwise, 2 on bad usage.`;

function fail(message: string, code = 2): never {
  process.stderr.write(`sim: ${message}\n`);
  process.exit(code);
}

/** At most a few lines per distinct message: a storm of 1,000 identical warnings says nothing more than 3. */
function throttledLog(): DeviceLog {
  const seen = new Map<string, number>();
  const write = (level: string) => (obj: object, msg: string) => {
    const n = (seen.get(msg) ?? 0) + 1;
    seen.set(msg, n);
    if (n <= 3) process.stderr.write(`\n[${level}] ${msg} ${JSON.stringify(obj)}\n`);
    else if (n === 4) process.stderr.write(`\n[${level}] ${msg}: further occurrences not shown\n`);
  };
  return { warn: write('warn'), error: write('error'), debug: () => {} };
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        mqtt: { type: 'string' },
        http: { type: 'string' },
        'start-bridge': { type: 'boolean', default: false },
        dynamodb: { type: 'string' },
        opensearch: { type: 'string' },
        table: { type: 'string' },
        index: { type: 'string' },
        region: { type: 'string', default: 'us-east-1' },
        report: { type: 'string' },
        json: { type: 'boolean', default: false },
        devices: { type: 'string' },
        'naive-share': { type: 'string' },
        'no-verify': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    fail(`${(e as Error).message}\n\n${USAGE}`);
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length !== 1) fail(`give exactly one scenario file\n\n${USAGE}`);

  let scenario;
  try {
    scenario = loadScenario(positionals[0]!);
    const patch: Record<string, unknown> = {};
    if (v.devices !== undefined || v['naive-share'] !== undefined) {
      patch['fleet'] = {
        ...(v.devices !== undefined ? { devices: Number(v.devices) } : {}),
        ...(v['naive-share'] !== undefined ? { naiveShare: Number(v['naive-share']) } : {}),
      };
    }
    if (v['no-verify']) patch['verify'] = { enabled: false };
    if (Object.keys(patch).length > 0) scenario = withOverrides(scenario, patch, 'command line');
  } catch (e) {
    if (e instanceof ScenarioError) fail(e.message);
    throw e;
  }

  const progress = new StderrProgress();
  let local: LocalBridge | null = null;
  let mqttUrl: string;
  let target: VerifyTarget | string;
  if (v['start-bridge']) {
    process.stderr.write('sim: starting the local stack and a bridge…\n');
    local = await startLocalBridge(scenario.bridge, (msg) => process.stderr.write(`[stack] ${msg}\n`));
    mqttUrl = local.mqttUrl;
    target = local.target;
    process.stderr.write(`sim: bridge on ${local.mqttUrl}, admin ${local.httpUrl}\n`);
  } else {
    mqttUrl = v.mqtt ?? 'mqtt://127.0.0.1:1883';
    if (Object.keys(scenario.bridge).length > 0) {
      process.stderr.write(`sim: note: the scenario's bridge overrides apply only with --start-bridge; the running bridge keeps its own config\n`);
    }
    const given = [v.dynamodb, v.opensearch, v.table, v.index];
    if (given.every((x) => x !== undefined)) {
      target = { dynamodb: { endpoint: v.dynamodb!, region: v.region!, table: v.table! }, opensearch: { node: v.opensearch!, index: v.index! } };
    } else {
      const http = v.http ?? 'http://127.0.0.1:8080';
      try {
        const fromStatus = await targetFromStatus(http, v.region);
        target = {
          dynamodb: { endpoint: v.dynamodb ?? fromStatus.dynamodb.endpoint, region: v.region!, table: v.table ?? fromStatus.dynamodb.table },
          opensearch: { node: v.opensearch ?? fromStatus.opensearch.node, index: v.index ?? fromStatus.opensearch.index },
        };
      } catch (e) {
        target = `no verification endpoints: ${(e as Error).message} (give --http, or --dynamodb --opensearch --table --index)`;
        process.stderr.write(`sim: ${target}\n`);
      }
    }
  }

  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write('\nsim: stopping (again to quit at once)…\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let exit = 1;
  try {
    const { report } = await runScenario({ scenario, mqttUrl, target, progress, log: throttledLog(), signal: abort.signal });
    const json = JSON.stringify(report, null, 2);
    if (v.report) writeFileSync(v.report, `${json}\n`);
    const summary = formatSummary(report);
    if (v.json) {
      process.stdout.write(`${json}\n`);
      process.stderr.write(`${summary}\n`);
    } else {
      process.stdout.write(`${summary}\n`);
    }
    if (v.report) process.stderr.write(`sim: report written to ${v.report}\n`);
    const verified = 'skipped' in report.verification || report.verification.ok;
    exit = report.drained && verified && !report.aborted ? 0 : 1;
  } finally {
    await local?.stop().catch((e: unknown) => process.stderr.write(`sim: stopping the local bridge: ${(e as Error).message}\n`));
  }
  process.exit(exit);
}

main().catch((e: unknown) => fail((e as Error).stack ?? String(e), 1));
