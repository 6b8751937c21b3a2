import { expect } from 'chai';
import fc from 'fast-check';
import * as yup from 'yup';
import { JOBS, QueueName } from '../../src/queues/registry';
import { cutterOf } from '../../src/schema-cut';
import { badPayload, FIELDS, notAnObject, VALID } from '../helpers/bad-payloads';

// The cut schema must be indistinguishable from the whole one: the same verdict, and for a bad
// payload the same problems, paths and messages in the same order.

const KINDS = Object.keys(FIELDS) as QueueName[];
const SEED = Number(process.env.SEED ?? Date.now() % 1000000);
const OPTIONS = { abortEarly: false, strict: true, stripUnknown: false };

type Verdict = { ok: true } | { ok: false; problems: string[] };

function verdict(schema: yup.AnySchema, data: unknown): Verdict {
  try {
    schema.validateSync(data, OPTIONS);
    return { ok: true };
  } catch (err) {
    if (!(err instanceof yup.ValidationError)) throw err;
    return { ok: false, problems: (err.inner.length > 0 ? err.inner : [err]).map((e) => `${e.path}: ${e.message}`) };
  }
}

/** A valid payload with some of its optional top-level fields (and some of its elements' optional fields) left out. */
function withoutSomeOptionals(kind: QueueName): fc.Arbitrary<unknown> {
  const full = VALID[kind]();
  const optional = FIELDS[kind].filter((f) => !f.required && f.path.length === 1).map((f) => String(f.path[0]));
  return fc.subarray(optional).map((drop) => {
    const data = structuredClone(full);
    for (const name of drop) delete data[name];
    if (Array.isArray(data.realizations)) {
      data.realizations = (data.realizations as Array<Record<string, unknown>>).map((r, i) => {
        const { annotations: _a, servicePeriod: _s, lineId: _l, ...rest } = r;
        return i % 2 === 0 ? rest : r;
      });
    }
    return data;
  });
}

describe('schema cut to the fields a payload has', () => {
  it('an allocate-credit payload with only its required fields runs only those, and its realizations only theirs', () => {
    const schema = JOBS['allocate-credit'].schema;
    const payload = { namespace: 'ns', chargeId: '01HZY5R4V8N1K6T7W3Q9M2B4C5', realizations: [{ type: 'allocation', amount: '1', transactionGroupId: 'tg' }] };
    const cut = cutterOf(schema)(payload);
    expect(Object.keys(cut.fields)).to.deep.equal(['namespace', 'chargeId', 'realizations']);
    const element = (cut.fields.realizations as yup.ArraySchema<unknown[], yup.AnyObject>).innerType as yup.Lazy<unknown>;
    expect(Object.keys((element.resolve({ value: payload.realizations[0] }) as yup.AnyObjectSchema).fields)).to.deep.equal(['type', 'amount', 'transactionGroupId']);
    // the same cut again: made once per set of keys
    expect(cutterOf(schema)({ ...payload, chargeId: '01HZY5R4V8N1K6T7W3Q9M2B4C6' })).to.equal(cut);
    // an unknown key: the whole schema, whose noUnknown test names it
    expect(Object.keys(cutterOf(schema)({ ...payload, junk: 1 }).fields)).to.have.length(4);
  });

  for (const kind of KINDS) {
    it(`${kind}: valid payloads with optional fields left out, broken payloads and non-objects get the whole schema's verdict (seed ${SEED})`, () => {
      const schema = JOBS[kind].schema;
      // A clone has no cuts made yet: each cut is made here from the first payload that needs it.
      const cutter = cutterOf(schema.clone());
      const payloads = fc.oneof(withoutSomeOptionals(kind), badPayload(kind).map((b) => b.data), notAnObject);
      fc.assert(
        fc.property(payloads, (data) => {
          expect(verdict(cutter(data), data)).to.deep.equal(verdict(schema, data));
        }),
        { numRuns: 600, seed: SEED },
      );
    });
  }

  it('two broken fields and a missing required one are listed as the whole schema lists them', () => {
    const schema = JOBS['allocate-credit'].schema;
    const data = { namespace: '', realizations: [{ type: 'allocation', amount: 12.5, transactionGroupId: 'tg' }, { type: 'correction', amount: '-1' }] };
    const whole = verdict(schema, data);
    expect(whole.ok).to.equal(false);
    expect(verdict(cutterOf(schema.clone())(data), data)).to.deep.equal(whole);
  });
});
