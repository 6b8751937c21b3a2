import { expect } from 'chai';
import fc from 'fast-check';
import { ulid } from 'ulid';
import { ValidationError } from '../../src/domain/errors';
import { canonicalJson, payloadHash } from '../../src/db/idempotency';
import { JOBS } from '../../src/queues/registry';
import { jsonShape, validate } from '../../src/validation';
import { allocation, chargePayload, NS } from '../helpers/fixtures';

// SPEC §3 limits: metadata/annotations ≤ 16 KiB and ≤ 32 levels, a payload ≤ 1 MiB, well-formed
// Unicode; and no payload, however deep, may overflow the stack in validation or hashing.

function nested(levels: number, leaf: unknown = 'x'): Record<string, unknown> {
  let value: unknown = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value as Record<string, unknown>;
}

function problemsOf(kind: keyof typeof JOBS, data: unknown): string {
  try {
    validate(JOBS[kind].schema, data);
  } catch (err) {
    expect(err).to.be.instanceOf(ValidationError);
    return (err as Error).message;
  }
  throw new Error('expected validation_failed');
}

/** The recursive form the hash had before: the iterative one must give the same text for every JSON value. */
function recursiveCanonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(recursiveCanonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${recursiveCanonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

describe('payload limits', () => {
  it('metadata of exactly 32 levels and 16 KiB is valid; 33 levels or 16 KiB + 1 byte is validation_failed naming metadata', () => {
    expect(() => validate(JOBS['create-charge'].schema, chargePayload({ metadata: nested(32) }))).not.to.throw();
    expect(problemsOf('create-charge', chargePayload({ metadata: nested(33) }))).to.equal(
      'validation_failed: metadata: metadata must be at most 16384 bytes serialized and 32 levels deep',
    );
    // {"k":"…"} is 8 bytes around the string
    expect(() => validate(JOBS['create-charge'].schema, chargePayload({ metadata: { k: 'x'.repeat(16384 - 8) } }))).not.to.throw();
    expect(jsonShape({ k: 'x'.repeat(16384 - 7) }).bytes).to.equal(16385);
    expect(problemsOf('create-charge', chargePayload({ metadata: { k: 'x'.repeat(16384 - 7) } }))).to.equal(
      'validation_failed: metadata: metadata must be at most 16384 bytes serialized and 32 levels deep',
    );
  });

  it('counts bytes as JSON.stringify in UTF-8 does', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(jsonShape(v).bytes).to.equal(Buffer.byteLength(JSON.stringify(v)));
      }),
      { numRuns: 1000 },
    );
  });

  it('3,000-level annotations and metadata fail validation with no stack overflow, and hash', () => {
    const deep = nested(3000);
    const alloc = { namespace: NS, chargeId: ulid(), realizations: [allocation('1', { annotations: deep })] };
    expect(problemsOf('allocate-credit', alloc)).to.equal('validation_failed: (payload): payload must be at most 40 levels deep');
    expect(problemsOf('create-charge', chargePayload({ metadata: deep }))).to.equal('validation_failed: (payload): payload must be at most 40 levels deep');
    // an unknown deep field too: nothing walks it recursively
    expect(problemsOf('activate-charge', { namespace: NS, chargeId: ulid(), junk: [[[[nested(3000)]]]] })).to.equal(
      'validation_failed: (payload): payload must be at most 40 levels deep',
    );
    expect(payloadHash(alloc)).to.match(/^[0-9a-f]{64}$/);
    expect(canonicalJson(nested(100000))).to.have.length(100000 * 6 + 3);
  });

  it('a payload over 1 MiB is validation_failed before its schema is walked', () => {
    const big = chargePayload({ description: 'x'.repeat(1024 * 1024) });
    expect(problemsOf('create-charge', big)).to.equal('validation_failed: (payload): payload must be at most 1048576 bytes serialized');
  });

  it('lone surrogates anywhere are validation_failed naming the field; a pair is fine', () => {
    expect(problemsOf('create-charge', chargePayload({ name: 'lone\ud800' }))).to.equal('validation_failed: name: name must be well-formed Unicode (a lone surrogate)');
    expect(problemsOf('create-charge', chargePayload({ name: 'lone\udc00' }))).to.equal('validation_failed: name: name must be well-formed Unicode (a lone surrogate)');
    expect(problemsOf('create-charge', chargePayload({ metadata: { note: ['ok', '\udc00x'] } }))).to.equal(
      'validation_failed: metadata.note[1]: metadata.note[1] must be well-formed Unicode (a lone surrogate)',
    );
    expect(problemsOf('create-charge', chargePayload({ metadata: { ['k\ud800']: 1 } }))).to.equal(
      'validation_failed: metadata: metadata has a key that is not well-formed Unicode (a lone surrogate)',
    );
    expect(problemsOf('create-charge', chargePayload({ idempotencyKey: 'key\ud800' }))).to.equal(
      'validation_failed: idempotencyKey: idempotencyKey must be well-formed Unicode (a lone surrogate)',
    );
    expect(() => validate(JOBS['create-charge'].schema, chargePayload({ name: 'emoji \ud83d\ude00' }))).not.to.throw();
  });

  it('the iterative canonical JSON is the recursive one, so stored payload hashes stay valid', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(v)).to.equal(recursiveCanonical(v));
      }),
      { numRuns: 2000 },
    );
    expect(canonicalJson({ b: [1, undefined, { d: null, c: 'x' }], a: undefined })).to.equal('{"a":null,"b":[1,null,{"c":"x","d":null}]}');
  });
});
