import fc from 'fast-check';
import { QueueName } from '../../src/queues/registry';
import { chargePayload, totals } from './fixtures';

// Malformed payloads for every job kind (fast-check): a valid payload with exactly one field broken
// in a way the contract forbids, paired with the field the error must name. Strings carrying SQL and
// JSON fragments are only "bad" where the field has a format; in free text they are valid data.

export type FieldKind = 'text' | 'longText' | 'ulid' | 'amount' | 'nonNegative' | 'positive' | 'instant' | 'currency' | 'enum' | 'bool' | 'int' | 'object' | 'jsonObject' | 'array';

export interface FieldSpec {
  path: Array<string | number>;
  kind: FieldKind;
  required?: boolean;
  values?: readonly string[];
}

export interface BadPayload {
  queue: QueueName;
  data: unknown;
  /** What the validation_failed message must contain: the field's path or the unknown key. */
  names: string;
  how: string;
}

const ULID_A = '01HZY5R4V8N1K6T7W3Q9M2B4C5';
const ULID_B = '01HZY5R4V8N1K6T7W3Q9M2B4C6';
const PERIOD = { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' };

export const SQL_AND_JSON = [
  "'; DROP TABLE charge_flat_fees; --",
  '1 OR 1=1',
  "\\'); DELETE FROM flat_fee_idempotency_keys; --",
  '{"amount":"1","$where":"1==1"}',
  '[{"type":"allocation"}]',
  '"},{"injected":true',
  '${path}',
  '\\u0000',
];

const TOTAL_FIELDS = ['amount', 'chargesTotal', 'discountsTotal', 'taxesInclusiveTotal', 'taxesExclusiveTotal', 'taxesTotal', 'creditsTotal', 'total'];
const totalsSpecs = (at: Array<string | number>): FieldSpec[] => [
  { path: at, kind: 'object', required: true },
  ...TOTAL_FIELDS.map((f) => ({ path: [...at, f], kind: 'nonNegative' as const, required: true })),
];
const periodSpecs = (at: string[], required: boolean): FieldSpec[] => [
  { path: at, kind: 'object', required },
  { path: [...at, 'from'], kind: 'instant', required: true },
  { path: [...at, 'to'], kind: 'instant', required: true },
];
const common = (): FieldSpec[] => [
  { path: ['namespace'], kind: 'text', required: true },
  { path: ['idempotencyKey'], kind: 'text' },
];

/** A valid payload of each kind, every optional field present so each can be broken. */
export const VALID: Record<string, () => Record<string, unknown>> = {
  'create-charge': () => ({
    ...chargePayload({ id: ULID_A, description: 'd', uniqueReferenceId: 'ref', featureKey: 'fk', metadata: { a: 1 }, advanceAfter: '2026-01-01T00:00:00Z' }),
    idempotencyKey: 'k',
  }),
  'activate-charge': () => ({ namespace: 'ns', chargeId: ULID_A, at: '2026-01-01T00:00:00Z', idempotencyKey: 'k' }),
  'allocate-credit': () => ({
    namespace: 'ns',
    chargeId: ULID_A,
    realizations: [{ type: 'allocation', amount: '10', transactionGroupId: 'tg', lineId: ULID_B, servicePeriod: PERIOD, annotations: { a: 1 } }],
    idempotencyKey: 'k',
  }),
  'create-invoiced-usage': () => ({
    namespace: 'ns',
    chargeId: ULID_A,
    lineId: ULID_A,
    invoiceId: ULID_B,
    servicePeriod: PERIOD,
    totals: totals({ amount: '10', total: '10' }),
    ledgerTransactionGroupId: 'ltg',
    detailedLines: [
      { childUniqueReferenceId: 'c1', name: 'n', description: 'd', quantity: '1', perUnitAmount: '10', category: 'regular', paymentTerm: 'in_advance', servicePeriod: PERIOD, index: 0, totals: totals({ amount: '10', total: '10' }) },
    ],
    idempotencyKey: 'k',
  }),
  payment: () => ({ namespace: 'ns', chargeId: ULID_A, action: 'authorize', lineId: ULID_A, invoiceId: ULID_B, transactionGroupId: 'tg', at: '2026-01-01T00:00:00Z', idempotencyKey: 'k' }),
  'delete-charge': () => ({ namespace: 'ns', chargeId: ULID_A, refundPolicy: 'correct', transactionGroupId: 'tg', at: '2026-01-01T00:00:00Z', idempotencyKey: 'k' }),
  'reprorate-charge': () => ({ namespace: 'ns', chargeId: ULID_A, servicePeriod: PERIOD, amountBeforeProration: '10', at: '2026-01-01T00:00:00Z', idempotencyKey: 'k' }),
};

const R = ['realizations', 0];
const D = ['detailedLines', 0];

export const FIELDS: Record<string, FieldSpec[]> = {
  'create-charge': [
    ...common(),
    { path: ['id'], kind: 'ulid' },
    { path: ['customerId'], kind: 'text', required: true },
    { path: ['currency'], kind: 'currency', required: true },
    { path: ['name'], kind: 'text', required: true },
    { path: ['description'], kind: 'longText' },
    { path: ['uniqueReferenceId'], kind: 'text' },
    { path: ['featureKey'], kind: 'text' },
    { path: ['metadata'], kind: 'jsonObject' },
    { path: ['settlementMode'], kind: 'enum', required: true, values: ['invoice_only', 'credit_then_invoice', 'credit_only'] },
    { path: ['paymentTerm'], kind: 'enum', required: true, values: ['in_advance', 'in_arrears'] },
    { path: ['invoiceAt'], kind: 'instant', required: true },
    { path: ['advanceAfter'], kind: 'instant' },
    ...periodSpecs(['servicePeriod'], true),
    ...periodSpecs(['fullServicePeriod'], true),
    ...periodSpecs(['billingPeriod'], true),
    { path: ['proRating'], kind: 'object', required: true },
    { path: ['proRating', 'enabled'], kind: 'bool', required: true },
    { path: ['proRating', 'mode'], kind: 'enum', required: true, values: ['prorate_prices', 'no_prorate'] },
    { path: ['amountBeforeProration'], kind: 'nonNegative', required: true },
  ],
  'activate-charge': [...common(), { path: ['chargeId'], kind: 'ulid', required: true }, { path: ['at'], kind: 'instant' }],
  'allocate-credit': [
    ...common(),
    { path: ['chargeId'], kind: 'ulid', required: true },
    { path: ['realizations'], kind: 'array', required: true },
    { path: R, kind: 'object', required: true },
    { path: [...R, 'type'], kind: 'enum', required: true, values: ['allocation', 'correction'] },
    { path: [...R, 'amount'], kind: 'positive', required: true },
    { path: [...R, 'transactionGroupId'], kind: 'text', required: true },
    { path: [...R, 'lineId'], kind: 'ulid' },
    ...periodSpecs([...R, 'servicePeriod'] as string[], false),
    { path: [...R, 'annotations'], kind: 'jsonObject' },
  ],
  'create-invoiced-usage': [
    ...common(),
    { path: ['chargeId'], kind: 'ulid', required: true },
    { path: ['lineId'], kind: 'ulid', required: true },
    { path: ['invoiceId'], kind: 'ulid', required: true },
    ...periodSpecs(['servicePeriod'], true),
    ...totalsSpecs(['totals']),
    { path: ['ledgerTransactionGroupId'], kind: 'text' },
    { path: ['detailedLines'], kind: 'array' },
    { path: [...D, 'childUniqueReferenceId'], kind: 'text', required: true },
    { path: [...D, 'name'], kind: 'text', required: true },
    { path: [...D, 'description'], kind: 'longText' },
    { path: [...D, 'quantity'], kind: 'nonNegative', required: true },
    { path: [...D, 'perUnitAmount'], kind: 'amount', required: true },
    { path: [...D, 'category'], kind: 'text' },
    { path: [...D, 'paymentTerm'], kind: 'enum', values: ['in_advance', 'in_arrears'] },
    { path: [...D, 'index'], kind: 'int' },
    ...totalsSpecs([...D, 'totals']),
  ],
  payment: [
    ...common(),
    { path: ['chargeId'], kind: 'ulid', required: true },
    { path: ['action'], kind: 'enum', required: true, values: ['authorize', 'settle'] },
    { path: ['lineId'], kind: 'ulid', required: true },
    { path: ['invoiceId'], kind: 'ulid', required: true },
    { path: ['transactionGroupId'], kind: 'text', required: true },
    { path: ['at'], kind: 'instant' },
  ],
  'delete-charge': [
    ...common(),
    { path: ['chargeId'], kind: 'ulid', required: true },
    { path: ['refundPolicy'], kind: 'enum', values: ['correct', 'none'] },
    { path: ['transactionGroupId'], kind: 'text' },
    { path: ['at'], kind: 'instant' },
  ],
  'reprorate-charge': [
    ...common(),
    { path: ['chargeId'], kind: 'ulid', required: true },
    ...periodSpecs(['servicePeriod'], true),
    { path: ['amountBeforeProration'], kind: 'nonNegative' },
    { path: ['at'], kind: 'instant' },
  ],
};

/** n characters that do not compress: a long key must not slip into an index thanks to TOAST. */
const noise = (n: number): string => {
  let out = '';
  let x = n * 2654435761;
  while (out.length < n) {
    x = (Math.imul(x ^ (x >>> 15), 2246822519) + 0x9e3779b9) >>> 0;
    out += x.toString(36);
  }
  return out.slice(0, n);
};

const notString = fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }));
const fragment = fc.constantFrom(...SQL_AND_JSON);
const DECIMAL = /^-?(0|[1-9]\d{0,27})(\.\d{1,18})?$/;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

const badAmountString = fc.oneof(
  fc.constantFrom('1e5', '12,50', ' 12', '12 ', 'NaN', 'Infinity', '-', '.5', '5.', '0x1F', '+5', '１２', '01', '1.0000000000000000001', '', '1_000'),
  fragment,
  fc.string().filter((s) => !DECIMAL.test(s)),
);

/** A value that breaks a field of this kind, with a label for the failure message. */
function badValue(spec: FieldSpec): fc.Arbitrary<[string, unknown]> {
  const tag = (how: string, arb: fc.Arbitrary<unknown>) => arb.map((v) => [how, v] as [string, unknown]);
  const options: Array<fc.Arbitrary<[string, unknown]>> = [];
  switch (spec.kind) {
    case 'text':
      options.push(tag('a NUL character', fc.constant('a\u0000b')), tag('empty', fc.constant('')), tag('over 255 chars', fc.integer({ min: 256, max: 70000 }).map(noise)), tag('not a string', notString));
      break;
    case 'longText':
      options.push(tag('a NUL character', fc.constant('a\u0000b')), tag('over 10000 chars', fc.integer({ min: 10001, max: 100000 }).map((n) => 'y'.repeat(n))), tag('not a string', notString));
      break;
    case 'ulid':
      options.push(tag('not a ULID', fc.oneof(fragment, fc.string().filter((s) => !ULID.test(s)), fc.constant(ULID_A.toLowerCase()), fc.constant('01HZY5R4V8N1K6T7W3Q9M2B4CU'))), tag('not a string', notString));
      break;
    case 'amount':
    case 'nonNegative':
    case 'positive':
      options.push(tag('a JSON number', fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))), tag('not a decimal string', badAmountString), tag('not a string', notString));
      if (spec.kind !== 'amount') options.push(tag('negative', fc.integer({ min: 1, max: 1e9 }).map((n) => `-${n}`)));
      if (spec.kind === 'positive') options.push(tag('zero', fc.constantFrom('0', '0.00')));
      break;
    case 'instant':
      options.push(
        tag('a bad date', fc.constantFrom('2026-13-01T00:00:00Z', '2026-01-32T00:00:00Z', '2026-02-30T00:00:00Z', '2026-01-01T25:00:00Z', '2026-01-01', '2026-01-01T00:00:00', 'yesterday', '', '1767225600')),
        tag('a fragment', fragment),
        tag('garbage', fc.string().filter((s) => !ISO.test(s))),
        tag('epoch number', fc.integer()),
        tag('not a string', notString),
      );
      break;
    case 'currency':
      options.push(tag('not ISO-4217', fc.oneof(fc.constantFrom('usd', 'XXY', 'US', 'EURO', '', '$'), fragment)), tag('not a string', notString));
      break;
    case 'enum':
      options.push(tag('not in the enum', fc.oneof(fc.string().filter((s) => !spec.values!.includes(s)), fc.constant(spec.values![0].toUpperCase()), fragment)), tag('not a string', notString));
      break;
    case 'bool':
      options.push(tag('not a boolean', fc.oneof(fc.constantFrom('true', 'false', 0, 1, null), fc.string())));
      break;
    case 'int':
      options.push(tag('not an integer', fc.oneof(fc.constantFrom(-1, 1.5, '1', null), fc.integer({ max: -1 }), fc.string())));
      break;
    case 'object':
    case 'jsonObject':
      options.push(tag('not an object', fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }))));
      if (spec.kind === 'jsonObject') options.push(tag('a NUL character', fc.constantFrom({ a: 'x\u0000' }, { ['k\u0000']: 1 }, { a: [{ b: '\u0000' }] })));
      break;
    case 'array':
      options.push(tag('not an array', fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }))));
      if (spec.required) options.push(tag('empty array', fc.constant([])));
      break;
  }
  return fc.oneof(...options);
}

export const pathText = (path: Array<string | number>) => path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');

function setAt(root: Record<string, unknown>, path: Array<string | number>, value: unknown, remove: boolean): void {
  let node: any = root;
  for (const p of path.slice(0, -1)) node = node[p];
  const last = path[path.length - 1];
  if (remove) delete node[last];
  else Object.defineProperty(node, last, { value, enumerable: true, writable: true, configurable: true });
}

/** A fresh copy as the worker sees it after the JSON trip through Redis (no shared nested objects). */
const fresh = (kind: string): Record<string, unknown> => JSON.parse(JSON.stringify(VALID[kind]()));
/** The wire form of a payload: JSON.stringify then JSON.parse, as BullMQ stores it. */
export const overTheWire = (data: unknown): unknown => (data === undefined ? undefined : JSON.parse(JSON.stringify(data)));

function objectPaths(kind: string): Array<Array<string | number>> {
  return [[], ...FIELDS[kind].filter((f) => f.kind === 'object').map((f) => f.path)];
}

/** One broken field: a bad value, a missing required field, or an unknown key on some object. */
export function badPayload(kind: QueueName): fc.Arbitrary<BadPayload> {
  const queue = kind;
  const fields = FIELDS[kind];
  const broken = fc.constantFrom(...fields).chain((spec) =>
    badValue(spec).map(([how, value]): BadPayload => {
      const data = fresh(kind);
      setAt(data, spec.path, value, false);
      return { queue, data: overTheWire(data), names: pathText(spec.path), how: `${pathText(spec.path)}: ${how}` };
    }),
  );
  const missing = fc.constantFrom(...fields.filter((f) => f.required)).map((spec): BadPayload => {
    const data = fresh(kind);
    setAt(data, spec.path, undefined, true);
    return { queue, data, names: pathText(spec.path), how: `${pathText(spec.path)}: missing` };
  });
  const unknownKey = fc
    .tuple(fc.constantFrom(...objectPaths(kind)), fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'chargeID')), fc.jsonValue())
    .filter(([at, key]) => !Object.prototype.hasOwnProperty.call(at.reduce<any>((n, p) => n[p], fresh(kind)), key))
    .map(([at, key, value]): BadPayload => {
      const data = fresh(kind);
      setAt(data, [...at, key], value, false);
      return { queue, data: overTheWire(data), names: key, how: `${pathText(at) || '(payload)'}: unknown key ${JSON.stringify(key)}` };
    });
  return fc.oneof({ arbitrary: broken, weight: 6 }, { arbitrary: missing, weight: 1 }, { arbitrary: unknownKey, weight: 2 });
}

/** Not an object at all: every queue must answer validation_failed naming the payload. */
export const notAnObject = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue(), { maxLength: 3 }));
