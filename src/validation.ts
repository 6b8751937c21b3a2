import * as yup from 'yup';
import { FieldProblem, ValidationError } from './domain/errors';
import { isCurrency } from './domain/money';

// Building blocks for the job payload schemas (SPEC §1, §3). Every payload is validated in strict
// mode (no coercion: 12.5 never becomes "12.5") with every problem listed, not only the first.

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const DECIMAL = /^-?(0|[1-9]\d{0,27})(\.\d{1,18})?$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

export const ulid = () => yup.string().matches(ULID, '${path} must be a ULID (26 Crockford base32 characters)');

/** Opaque ids and names: 1–255 characters. */
export const text = () => yup.string().min(1, '${path} must not be empty').max(255, '${path} must be at most 255 characters');

export const currency = () => yup.string().test('currency', '${path} must be an ISO-4217 currency code', (v) => v === undefined || isCurrency(v));

/** Amounts travel as decimal strings: a JSON number is an error. */
export const amount = () =>
  yup.string().matches(DECIMAL, '${path} must be a decimal string such as "12.50" (numbers are not accepted)');

/** Whether a string is a decimal amount in the wire format (what amount() accepts). */
export const isDecimalString = (v: unknown): v is string => typeof v === 'string' && DECIMAL.test(v);

export const nonNegativeAmount = () => amount().test('non-negative', '${path} must be >= 0', (v) => v === undefined || !v.startsWith('-'));

export const positiveAmount = () =>
  amount().test('positive', '${path} must be > 0', (v) => v === undefined || (!v.startsWith('-') && /[1-9]/.test(v)));

export const nonPositiveAmount = () =>
  amount().test('non-positive', '${path} must be <= 0', (v) => v === undefined || v.startsWith('-') || !/[1-9]/.test(v));

export const instant = () =>
  yup
    .string()
    .matches(ISO_INSTANT, '${path} must be an ISO-8601 date-time with a time zone')
    .test('valid-date', '${path} is not a real date', (v) => v === undefined || (!Number.isNaN(Date.parse(v)) && dayExists(v)));

/** Date.parse rolls 2026-02-30 over to March 2; a billing date that does not exist is an error. */
function dayExists(v: string): boolean {
  const [year, month, day] = v.slice(0, 10).split('-').map(Number);
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export function period() {
  return strictObject({
    from: instant().required(),
    to: instant().required(),
  }).test('ordered', '${path}.to must not be before ${path}.from', (v) => !v || !v.from || !v.to || Date.parse(v.to) >= Date.parse(v.from));
}

export function strictObject<S extends yup.ObjectShape>(shape: S) {
  return yup.object(shape).noUnknown(true, '${path} has unknown fields: ${unknown}').strict(true);
}

export const idempotencyKey = () => text();

/** A plain JSON object (metadata, annotations). */
export const jsonObject = () =>
  yup.mixed<Record<string, unknown>>().test('object', '${path} must be a JSON object', (v) => v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v)));

/** Validates a payload, listing every bad field in one validation_failed error. */
export function validate<S extends yup.AnyObjectSchema>(schema: S, data: unknown): yup.InferType<S> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ValidationError([{ path: '(payload)', message: 'payload must be a JSON object' }]);
  }
  const nul = nulCharacters(data, '');
  try {
    const valid = schema.validateSync(data, { abortEarly: false, strict: true, stripUnknown: false });
    if (nul.length > 0) throw new ValidationError(nul);
    return valid;
  } catch (err) {
    if (err instanceof yup.ValidationError) {
      const problems = (err.inner.length > 0 ? err.inner : [err]).map((e) => ({
        path: e.path || '(payload)',
        message: e.message,
      }));
      throw new ValidationError([...problems, ...nul]);
    }
    throw err;
  }
}

/**
 * PostgreSQL stores no U+0000 in text or jsonb: a NUL anywhere (free text, metadata keys) would
 * pass the schema and then fail every retry at INSERT, so it is a validation error up front.
 */
function nulCharacters(value: unknown, path: string): FieldProblem[] {
  const at = path || '(payload)';
  if (typeof value === 'string') return value.includes('\u0000') ? [{ path: at, message: `${at} must not contain NUL characters` }] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => nulCharacters(v, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const child = path ? `${path}.${k}` : k;
    return k.includes('\u0000') ? [{ path: at, message: `${at} has a key with a NUL character` }] : nulCharacters(v, child);
  });
}

/** The eight totals, each a required non-negative decimal string (SPEC §1: totals are never negative). */
export function totalsSchema() {
  return strictObject({
    amount: nonNegativeAmount().required(),
    chargesTotal: nonNegativeAmount().required(),
    discountsTotal: nonNegativeAmount().required(),
    taxesInclusiveTotal: nonNegativeAmount().required(),
    taxesExclusiveTotal: nonNegativeAmount().required(),
    taxesTotal: nonNegativeAmount().required(),
    creditsTotal: nonNegativeAmount().required(),
    total: nonNegativeAmount().required(),
  });
}
