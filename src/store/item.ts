// Pure mapping of accepted events to DynamoDB items, and item size → write units as DynamoDB counts them.
// No I/O here: the writer, the capacity proxy and the tests all share these rules.
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DeviceEvent } from '../contract/wire.js';

/** Key attribute names of the events table (see docs/storage.md for the key design). */
export const PARTITION_KEY = 'pk';
export const SORT_KEY = 'sk';

export type Item = Record<string, AttributeValue>;

/** `{tenant}#{device}`: ids cannot contain '#' (contract identity pattern), so the key is unambiguous. */
export function partitionKey(tenant: string, device: string): string {
  return `${tenant}#${device}`;
}

export function itemKey(tenant: string, device: string, seq: number): Item {
  return { [PARTITION_KEY]: { S: partitionKey(tenant, device) }, [SORT_KEY]: { N: String(seq) } };
}

/** The stored shape: key attributes, the contract's plain attributes, and when the edge accepted the event. */
export function eventItem(tenant: string, device: string, acceptedAt: number, ev: DeviceEvent): Item {
  return {
    ...itemKey(tenant, device, ev.seq),
    tenant: { S: tenant },
    device: { S: device },
    seq: { N: String(ev.seq) },
    ts: { N: String(ev.ts) },
    type: { S: ev.type },
    data: toAttributeValue(ev.data),
    acceptedAt: { N: String(acceptedAt) },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Numbers. DynamoDB stores a number as base-100 digits with an exponent (like Oracle NUMBER): at most 38
// significant digits and a decimal exponent in [-130, 125]. JS doubles have at most 17 significant digits, so
// only the exponent range can be exceeded.

export interface DecimalParts {
  negative: boolean;
  /** Significant digits, no leading or trailing zeros; '' for zero. */
  digits: string;
  /** Decimal exponent of the first significant digit (123 → 2, 0.05 → -2); 0 for zero. */
  exponent: number;
}

/** Splits a decimal number string (`-1.50e+3`, `0.0012`, `42`) into sign, significant digits and exponent. */
export function decimalParts(text: string): DecimalParts {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new RangeError(`not a decimal number: ${JSON.stringify(text)}`);
  const intPart = m[2] ?? '';
  const fracPart = m[3] ?? '';
  const exp = m[4] ? Number(m[4]) : 0;
  const all = intPart + fracPart;
  const lead = all.search(/[1-9]/);
  if (lead < 0) return { negative: false, digits: '', exponent: 0 };
  const digits = all.slice(lead).replace(/0+$/, '');
  // The digit at index `lead` of `all` sits at decimal position intPart.length - 1 - lead.
  return { negative: m[1] === '-', digits, exponent: intPart.length - 1 - lead + exp };
}

/** DynamoDB's accepted exponent range (ValidationException "Number overflow/underflow" outside it). */
export const MAX_NUMBER_EXPONENT = 125;
export const MIN_NUMBER_EXPONENT = -130;

/** Plain decimal text (no exponent), so the value reads the same in every DynamoDB implementation. */
export function plainDecimal(p: DecimalParts): string {
  if (p.digits === '') return '0';
  const sign = p.negative ? '-' : '';
  const n = p.digits.length;
  if (p.exponent < 0) return `${sign}0.${'0'.repeat(-p.exponent - 1)}${p.digits}`;
  if (p.exponent >= n - 1) return `${sign}${p.digits}${'0'.repeat(p.exponent - n + 1)}`;
  return `${sign}${p.digits.slice(0, p.exponent + 1)}.${p.digits.slice(p.exponent + 1)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON → AttributeValue. `data` is stored as a map so that operators can filter on its fields.

/**
 * Marshals a JSON value the way JSON.stringify would see it: undefined members are dropped, non-finite numbers
 * become NULL. A number DynamoDB cannot hold (|x| ≥ 1e126 or 0 < |x| < 1e-130) is kept as its JSON text in a
 * string attribute rather than failing the whole batch with a ValidationException.
 */
export function toAttributeValue(v: unknown): AttributeValue {
  if (v === null || v === undefined) return { NULL: true };
  switch (typeof v) {
    case 'boolean':
      return { BOOL: v };
    case 'string':
      return { S: v };
    case 'number': {
      if (!Number.isFinite(v)) return { NULL: true };
      const p = decimalParts(String(v));
      if (p.digits !== '' && (p.exponent > MAX_NUMBER_EXPONENT || p.exponent < MIN_NUMBER_EXPONENT)) return { S: String(v) };
      return { N: plainDecimal(p) };
    }
    case 'object': {
      if (Array.isArray(v)) return { L: v.map((x) => toAttributeValue(x)) };
      const M: Record<string, AttributeValue> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (x !== undefined) M[k] = toAttributeValue(x);
      }
      return { M };
    }
    default:
      throw new TypeError(`cannot store a ${typeof v} as a DynamoDB attribute`);
  }
}

/** AttributeValue → JSON value (the inverse of toAttributeValue for everything it produces). */
export function fromAttributeValue(av: AttributeValue): unknown {
  if (av.NULL) return null;
  if (av.BOOL !== undefined) return av.BOOL;
  if (av.S !== undefined) return av.S;
  if (av.N !== undefined) return Number(av.N);
  if (av.L !== undefined) return av.L.map(fromAttributeValue);
  if (av.M !== undefined) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(av.M)) out[k] = fromAttributeValue(x);
    return out;
  }
  throw new TypeError(`unsupported attribute type: ${Object.keys(av).join(',')}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Sizes. Rules from "DynamoDB item sizes and formats" (Developer Guide, CapacityUnitCalculations): an item's size
// is the sum of its attribute names and values; strings count UTF-8 bytes; null and boolean 1 byte; a list or map
// 3 bytes plus 1 byte per element plus its elements (a map element's name counts like an attribute name).
// The guide gives numbers only "approximately" (1 byte per two significant digits + 1); the exact base-100 rule
// below is the one dynalite reproduces from measurements of the real service.

/**
 * Loosely typed attribute value: the SDK's shape (B as bytes) or the JSON wire shape (B as base64), so that the
 * capacity proxy can size raw request bodies with the same code.
 */
export type AnyAttributeValue = Record<string, unknown>;

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

function binarySize(b: unknown): number {
  if (typeof b === 'string') return Buffer.from(b, 'base64').length;
  if (b instanceof Uint8Array) return b.byteLength;
  return 0;
}

/** Bytes of a number value: exponent byte + base-100 digit pairs aligned on the decimal point (+1 if negative). */
export function numberSize(text: string): number {
  const p = decimalParts(text);
  const n = p.digits.length;
  if (n === 0) return 1;
  // Pairs are aligned on even exponents: an even count of digits starting at an even exponent spills into one
  // more pair (1.2 → [01][20]); otherwise ceil(n / 2) pairs hold them.
  const extraPair = n % 2 === 0 && Math.abs(p.exponent) % 2 === 0 ? 1 : 0;
  return 1 + Math.ceil(n / 2) + extraPair + (p.negative ? 1 : 0);
}

/** Bytes of one attribute value, without its name. */
export function attributeValueSize(av: AnyAttributeValue): number {
  if ('S' in av) return utf8(String(av['S']));
  if ('N' in av) return numberSize(String(av['N']));
  if ('B' in av) return binarySize(av['B']);
  if ('BOOL' in av || 'NULL' in av) return 1;
  if ('SS' in av) return (av['SS'] as string[]).reduce((s, x) => s + utf8(x), 0);
  if ('NS' in av) return (av['NS'] as string[]).reduce((s, x) => s + numberSize(x), 0);
  if ('BS' in av) return (av['BS'] as unknown[]).reduce<number>((s, x) => s + binarySize(x), 0);
  if ('L' in av) return (av['L'] as AnyAttributeValue[]).reduce((s, x) => s + 1 + attributeValueSize(x), 3);
  if ('M' in av) {
    return Object.entries(av['M'] as Record<string, AnyAttributeValue>).reduce((s, [k, x]) => s + 1 + utf8(k) + attributeValueSize(x), 3);
  }
  return 0;
}

/** Item size in bytes: Σ (UTF-8 bytes of the attribute name + size of its value). */
export function itemSize(item: Record<string, AnyAttributeValue> | Item): number {
  let size = 0;
  for (const [name, av] of Object.entries(item)) size += utf8(name) + attributeValueSize(av as AnyAttributeValue);
  return size;
}

/** Standard write: 1 write unit per 1 KB (1,024 bytes) of item size or part of it; never less than 1. */
export const WRITE_UNIT_BYTES = 1024;

export function writeUnitsForSize(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / WRITE_UNIT_BYTES));
}

export function writeUnits(item: Record<string, AnyAttributeValue> | Item): number {
  return writeUnitsForSize(itemSize(item));
}

/** DynamoDB refuses items over 400 KB with a ValidationException. */
export const MAX_ITEM_BYTES = 400 * 1024;
