// npm run auth:hash -- SECRET  → prints the hash to put in the credentials file.
import { hashSecret } from './auth.js';

const secret = process.argv[2];
if (!secret) {
  process.stderr.write('usage: npm run auth:hash -- SECRET\n');
  process.exit(1);
}
process.stdout.write(`${hashSecret(secret)}\n`);
