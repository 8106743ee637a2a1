// Device credentials and topic ACL. MQTT username = `{tenant}/{device}`, password = the device's
// secret; the credentials file holds only scrypt hashes (generate them with `npm run auth:hash`).
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { readYamlFile, ConfigError, formatIssues } from '../config/load.js';
import { isValidId } from '../contract/identity.js';
import { parseTopic } from '../contract/topics.js';

export interface DeviceIdentity {
  tenant: string;
  device: string;
}

const SCRYPT_KEYLEN = 32;
const HASH_PATTERN = /^scrypt\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

/** `scrypt$<salt base64>$<key base64>` */
export function hashSecret(secret: string, salt: Buffer = randomBytes(16)): string {
  const key = scryptSync(secret, salt, SCRYPT_KEYLEN);
  return `scrypt$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function verifySecret(secret: string, hash: string): boolean {
  const m = HASH_PATTERN.exec(hash);
  if (!m) return false;
  const expected = Buffer.from(m[2]!, 'base64');
  const actual = scryptSync(secret, Buffer.from(m[1]!, 'base64'), expected.length);
  return timingSafeEqual(actual, expected);
}

const credentialsSchema = z.strictObject({
  devices: z.array(
    z.strictObject({
      tenant: z.string().refine(isValidId, 'must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
      device: z.string().refine(isValidId, 'must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
      secret: z.string().regex(HASH_PATTERN, 'must be a hash made by npm run auth:hash (scrypt$salt$key)'),
    }),
  ),
});

export class DeviceCredentials {
  private constructor(private readonly hashes: Map<string, string>) {}

  static fromFile(file: string): DeviceCredentials {
    const parsed = credentialsSchema.safeParse(readYamlFile(file));
    if (!parsed.success) throw new ConfigError(file, formatIssues(parsed.error.issues));
    return new DeviceCredentials(new Map(parsed.data.devices.map((d) => [`${d.tenant}/${d.device}`, d.secret])));
  }

  /** The identity behind a username/password, or null. */
  authenticate(username: string | undefined, password: Buffer | undefined): DeviceIdentity | null {
    if (!username || !password) return null;
    const hash = this.hashes.get(username);
    if (!hash || !verifySecret(password.toString('utf8'), hash)) return null;
    const [tenant, device] = username.split('/') as [string, string];
    return { tenant, device };
  }
}

/** A device may publish only to its own batch and sync topics (or any device's, with auth off). */
export function mayPublish(topic: string, identity: DeviceIdentity | null): boolean {
  const t = parseTopic(topic);
  if (!t || t.kind === 'ack') return false;
  return identity === null || (t.tenant === identity.tenant && t.device === identity.device);
}

/** A device may subscribe only to its own ack topic, without wildcards (or any ack topic, with auth off). */
export function maySubscribe(topic: string, identity: DeviceIdentity | null): boolean {
  if (identity === null) return true;
  const t = parseTopic(topic);
  return t !== null && t.kind === 'ack' && t.tenant === identity.tenant && t.device === identity.device;
}
