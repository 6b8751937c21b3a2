import * as yup from 'yup';
import { FieldProblem, ValidationError } from './domain/errors';
import { isCurrency } from './domain/money';
import { cutterOf } from './schema-cut';

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

/** SPEC §3 limits: metadata and annotations at most 16 KiB serialized and 32 levels; a payload at most 1 MiB. */
export const LIMITS = { jsonObjectBytes: 16 * 1024, jsonObjectDepth: 32, payloadBytes: 1024 * 1024 } as const;

/**
 * No schema nests deeper than this around a metadata/annotations object (payload → realizations[] →
 * item → annotations): anything deeper is refused before any recursive walk (yup, the payload hash,
 * JSON.stringify, jsonb) can overflow the stack on it.
 */
const PAYLOAD_DEPTH = LIMITS.jsonObjectDepth + 8;

/** A lone surrogate cannot be stored: pg would write U+FFFD, and two different keys would become one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text PostgreSQL cannot store as given: a NUL or a lone surrogate. */
export function unstorableText(v: string): boolean {
  return v.includes('\u0000') || LONE_SURROGATE.test(v);
}

export interface JsonShape {
  /** UTF-8 bytes of JSON.stringify(value), counted without calling it. */
  bytes: number;
  /** 1 for a flat object or array; a scalar is 0. */
  depth: number;
  /** True when the walk stopped early: bytes or depth went past the given bounds. */
  cut: boolean;
}

/** Characters JSON writes as themselves, one byte each in UTF-8: a string of only these needs no escaping. */
const PLAIN_JSON_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** UTF-8 bytes of JSON.stringify(value) for a value that is not an object. */
function scalarBytes(v: unknown): number {
  if (typeof v === 'string') return PLAIN_JSON_TEXT.test(v) ? v.length + 2 : Buffer.byteLength(JSON.stringify(v));
  if (typeof v === 'number') return Number.isFinite(v) ? String(v).length : 4;
  return Buffer.byteLength(JSON.stringify(v) ?? 'null');
}

/**
 * Size and depth of a JSON value, walked with an explicit stack (never recursion), stopping as soon as
 * maxBytes or maxDepth is passed, so a 3,000-level or 100 MiB payload costs no more than the limit.
 * Every payload goes through it: it allocates nothing per node but the stack.
 */
export function jsonShape(value: unknown, maxBytes = Infinity, maxDepth = Infinity): JsonShape {
  let bytes = 0;
  let depth = 0;
  const values: unknown[] = [value];
  const levels: number[] = [0];
  while (values.length > 0) {
    const v = values.pop();
    const level = levels.pop()!;
    if (v !== null && typeof v === 'object') {
      depth = Math.max(depth, level + 1);
      if (Array.isArray(v)) {
        // brackets and commas
        bytes += 2 + Math.max(0, v.length - 1);
        if (depth > maxDepth || bytes > maxBytes) return { bytes, depth, cut: true };
        for (let i = 0; i < v.length; i++) {
          values.push(v[i]);
          levels.push(level + 1);
        }
      } else {
        const keys = Object.keys(v);
        bytes += 2 + Math.max(0, keys.length - 1);
        if (depth > maxDepth || bytes > maxBytes) return { bytes, depth, cut: true };
        for (const k of keys) {
          // the key with its quotes and colon
          bytes += scalarBytes(k) + 1;
          values.push((v as Record<string, unknown>)[k]);
          levels.push(level + 1);
        }
      }
    } else {
      bytes += scalarBytes(v);
    }
    if (bytes > maxBytes) return { bytes, depth, cut: true };
  }
  return { bytes, depth, cut: false };
}

/** A plain JSON object (metadata, annotations) within SPEC §3's size and depth limits. */
export const jsonObject = () =>
  yup
    .mixed<Record<string, unknown>>()
    .test('object', '${path} must be a JSON object', (v) => v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v)))
    .test('limits', `\${path} must be at most ${LIMITS.jsonObjectBytes} bytes serialized and ${LIMITS.jsonObjectDepth} levels deep`, (v) => {
      if (v === undefined || v === null || typeof v !== 'object') return true;
      return !jsonShape(v, LIMITS.jsonObjectBytes, LIMITS.jsonObjectDepth).cut;
    });

/** Validates a payload, listing every bad field in one validation_failed error. */
export function validate<S extends yup.AnyObjectSchema>(schema: S, data: unknown): yup.InferType<S> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ValidationError([{ path: '(payload)', message: 'payload must be a JSON object' }]);
  }
  // Size and depth first, without recursion: everything after this may walk the payload recursively.
  const shape = jsonShape(data, LIMITS.payloadBytes, PAYLOAD_DEPTH);
  if (shape.cut) {
    const message = shape.bytes > LIMITS.payloadBytes ? `payload must be at most ${LIMITS.payloadBytes} bytes serialized` : `payload must be at most ${PAYLOAD_DEPTH} levels deep`;
    throw new ValidationError([{ path: '(payload)', message }]);
  }
  const bad = unstorableCharacters(data);
  try {
    const valid = cutterOf(schema)(data).validateSync(data, { abortEarly: false, strict: true, stripUnknown: false }) as yup.InferType<S>;
    if (bad.length > 0) throw new ValidationError(bad);
    return valid;
  } catch (err) {
    if (err instanceof yup.ValidationError) {
      const problems = (err.inner.length > 0 ? err.inner : [err]).map((e) => ({
        path: e.path || '(payload)',
        message: e.message,
      }));
      throw new ValidationError([...problems, ...bad]);
    }
    throw err;
  }
}

/**
 * PostgreSQL stores no U+0000 in text or jsonb, and no lone surrogate (pg writes U+FFFD for it, so
 * "a\ud800" and "a\udc00" would be stored alike): either would pass the schema and then fail every
 * retry at INSERT or be silently changed, so it is a validation error up front. Iterative walk.
 */
function unstorableCharacters(data: unknown): FieldProblem[] {
  // Nearly every payload has none: a walk that builds no path finds that out first.
  if (!hasSuspectText(data)) return [];
  const problems: FieldProblem[] = [];
  const stack: Array<[unknown, string]> = [[data, '']];
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    const at = path || '(payload)';
    if (typeof value === 'string') {
      if (value.includes('\u0000')) problems.push({ path: at, message: `${at} must not contain NUL characters` });
      else if (LONE_SURROGATE.test(value)) problems.push({ path: at, message: `${at} must be well-formed Unicode (a lone surrogate)` });
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${path}[${i}]`]);
    } else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value).reverse()) {
        if (k.includes('\u0000')) problems.push({ path: at, message: `${at} has a key with a NUL character` });
        else if (LONE_SURROGATE.test(k)) problems.push({ path: at, message: `${at} has a key that is not well-formed Unicode (a lone surrogate)` });
        else stack.push([v, path ? `${path}.${k}` : k]);
      }
    }
  }
  return problems;
}

/** A NUL or any surrogate: what unstorableText may refuse (a well-formed pair is let through there). */
const SUSPECT_TEXT = /[\u0000\uD800-\uDFFF]/;

/** Whether any string or key of the value holds a character unstorableCharacters must look at. */
function hasSuspectText(data: unknown): boolean {
  const stack: unknown[] = [data];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') {
      if (SUSPECT_TEXT.test(value)) return true;
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) stack.push(value[i]);
    } else if (typeof value === 'object' && value !== null) {
      for (const k of Object.keys(value)) {
        if (SUSPECT_TEXT.test(k)) return true;
        stack.push((value as Record<string, unknown>)[k]);
      }
    }
  }
  return false;
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
