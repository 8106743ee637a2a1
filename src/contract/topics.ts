import { isValidId } from './identity.js';

export type TopicKind = 'batch' | 'sync' | 'ack';

export interface DeviceTopic {
  tenant: string;
  device: string;
  kind: TopicKind;
}

const PREFIX = 'ingest';

export function topicFor(tenant: string, device: string, kind: TopicKind): string {
  return `${PREFIX}/${tenant}/${device}/${kind}`;
}

/** Parses `ingest/{tenant}/{device}/{batch|sync|ack}`; null for anything outside the contract. */
export function parseTopic(topic: string): DeviceTopic | null {
  const parts = topic.split('/');
  if (parts.length !== 4 || parts[0] !== PREFIX) return null;
  const [, tenant, device, kind] = parts as [string, string, string, string];
  if (!isValidId(tenant) || !isValidId(device)) return null;
  if (kind !== 'batch' && kind !== 'sync' && kind !== 'ack') return null;
  return { tenant, device, kind };
}
