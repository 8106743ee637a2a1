// npm run config:check -- FILE: validates FILE overlaid on the defaults, exactly as `npm start` would,
// and prints the effective config (credentials redacted) or every error with its key.
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, loadConfig } from './load.js';
import { redactConfig } from './redact.js';

const file = process.argv[2];
if (!file || process.argv.length > 3) {
  process.stderr.write('usage: npm run config:check -- FILE\n');
  process.exit(1);
}
try {
  const config = loadConfig({ file: resolve(file) });
  process.stdout.write(`# ${file}: valid. Effective config (defaults ← file ← environment):\n`);
  process.stdout.write(stringify(redactConfig(config)));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.source}: invalid config\n`);
  for (const issue of err.issues) process.stderr.write(`  ${issue}\n`);
  process.exit(1);
}
