import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { JOBS, QUEUE_NAMES, QueueName } from '../../src/queues/registry';
import { validate } from '../../src/validation';

// Every JSON example of a job payload in the README (and docs/*.md) is validated against its job's
// schema, so an example can never drift from what the worker accepts (issue 20).

const ROOT = path.resolve(__dirname, '../..');

interface Example {
  file: string;
  line: number;
  queue: QueueName;
  text: string;
}

/** ```json blocks under a `### <queue>` heading (the nearest heading above the block). */
export function payloadExamples(file: string): Example[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Example[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const h = /^#+\s+`?([a-z-]+)`?\s*$/.exec(lines[i]);
    if (h) heading = h[1];
    else if (/^#+\s/.test(lines[i])) heading = '';
    if (lines[i].trim() !== '```json') continue;
    const end = lines.indexOf('```', i + 1);
    if ((QUEUE_NAMES as string[]).includes(heading)) {
      out.push({ file: path.relative(ROOT, file), line: i + 1, queue: heading as QueueName, text: lines.slice(i + 1, end).join('\n') });
    }
    i = end;
  }
  return out;
}

const files = [path.join(ROOT, 'README.md'), ...(existsSync(path.join(ROOT, 'docs')) ? readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join(ROOT, 'docs', f)) : [])];

describe('documentation examples', () => {
  const examples = files.flatMap(payloadExamples);

  it('the README shows a payload example for every job kind but the migration job', () => {
    expect([...new Set(examples.filter((e) => e.file === 'README.md').map((e) => e.queue))].sort()).to.deep.equal(
      QUEUE_NAMES.filter((q) => q !== 'migrate-legacy-flat-fees').sort(),
    );
  });

  it('every payload example is valid JSON that its job schema accepts', () => {
    for (const e of examples) {
      const where = `${e.file}:${e.line} (${e.queue})`;
      let data: unknown;
      expect(() => (data = JSON.parse(e.text)), where).not.to.throw();
      expect(() => validate(JOBS[e.queue].schema, data), where).not.to.throw();
    }
  });

  it('every ULID-looking id in the docs is a ULID (Crockford base32: no I, L, O, U)', () => {
    for (const file of files) {
      const ids = readFileSync(file, 'utf8').match(/\b01[0-9A-Z]{24}\b/g) ?? [];
      const bad = ids.filter((id) => !/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id));
      expect(bad, path.relative(ROOT, file)).to.deep.equal([]);
    }
  });
});
