import * as yup from 'yup';

// yup runs every field of an object schema on every value, present or not, and that per-field work
// is most of what validating a payload costs (an allocate-credit payload has eleven fields, of which
// an ordinary one fills six). An absent optional field passes, so the schema cut down to the fields
// a value has, plus those it must have, gives the same verdict and the same problems in the same
// order: the cut keeps each field's own schema and the object's own tests. The rules stay in the one
// schema; this only chooses which of its fields to run.

type Cutter = (value: unknown) => yup.AnyObjectSchema;

const cutters = new WeakMap<yup.AnyObjectSchema, Cutter>();

function isObjectSchema(s: unknown): s is yup.AnyObjectSchema {
  return s instanceof yup.ObjectSchema;
}

/**
 * Whether a field may be left out when the value lacks it: it is optional and passes when absent.
 * A field whose own tests refuse undefined is always run.
 */
function skippableWhenAbsent(field: yup.Schema): boolean {
  return field.spec.optional && field.isValidSync(undefined, { strict: true });
}

/** Elements of an array of objects are cut too, each by its own keys; the array keeps its own tests. */
function withCutElements(schema: yup.AnyObjectSchema): yup.AnyObjectSchema {
  const arrays: Record<string, yup.AnySchema> = {};
  for (const [name, field] of Object.entries(schema.fields)) {
    if (field instanceof yup.ArraySchema && isObjectSchema(field.innerType)) {
      const element = cutterOf(field.innerType);
      arrays[name] = field.of(yup.lazy((v: unknown) => element(v)));
    }
  }
  return Object.keys(arrays).length > 0 ? schema.shape(arrays) : schema;
}

/** For one object schema: value → the schema to validate it with, each cut made once per set of keys. */
export function cutterOf(schema: yup.AnyObjectSchema): Cutter {
  const made = cutters.get(schema);
  if (made) return made;
  const whole = withCutElements(schema);
  const names = Object.keys(whole.fields);
  // The fields a value has are kept as bits of one number.
  if (names.length > 30) return () => whole;
  const skippable = names.map((name) => skippableWhenAbsent(whole.fields[name] as yup.Schema));
  const cuts = new Map<number, yup.AnyObjectSchema>();
  const cutter: Cutter = (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return whole;
    // A key the schema does not know takes the whole schema, whose noUnknown test names it.
    let present = 0;
    let known = 0;
    for (let i = 0; i < names.length; i++) {
      if (Object.prototype.hasOwnProperty.call(value, names[i])) {
        known++;
        if (skippable[i]) present |= 1 << i;
      }
    }
    if (known !== Object.keys(value).length) return whole;
    let cut = cuts.get(present);
    if (!cut) {
      cut = whole.pick(names.filter((_, i) => !skippable[i] || (present & (1 << i)) !== 0));
      cuts.set(present, cut);
    }
    return cut;
  };
  cutters.set(schema, cutter);
  return cutter;
}
