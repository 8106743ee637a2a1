// Identity rules of the ingest contract, v1 (see docs/contract.md).

/** tenant and device ids: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$` */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function isValidId(s: string): boolean {
  return ID_PATTERN.test(s);
}

/** The OpenSearch document `_id` and the stable key of an event: `{tenant}:{device}:{seq}`. */
export function eventId(tenant: string, device: string, seq: number): string {
  return `${tenant}:${device}:${seq}`;
}
