import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { Queue } from 'bullmq';
import { buildProgram } from '../../src/cli/main';
import { loadConfig } from '../../src/config';
import { ValidationError } from '../../src/domain/errors';
import { redisOptions } from '../../src/queues/connection';
import { jobDefinition, QUEUE_NAMES, QueueName } from '../../src/queues/registry';
import { validate } from '../../src/validation';
import { BIN, cliEnv, runCli } from '../cli/process';
import { useTestDatabase } from '../helpers/db';
import { dropPrefix, testPrefix, useWorkerHarness } from '../helpers/queue';

// The examples of README.md and docs/ are part of the product: every payload validates against its job's
// schema, the producer snippet runs as written (ESM and CommonJS), the first run's shell commands work,
// and every CLI command the docs name exists.

const ROOT = path.resolve(__dirname, '../..');
const DOCS = [
  'README.md',
  'CONTRIBUTING.md',
  'bench/README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

interface Block {
  file: string;
  line: number;
  lang: string;
  /** The HTML comment on the line just before the fence (blank lines skipped), without `<!--`/`-->`. */
  marker: string | null;
  text: string;
}

function blocksOf(file: string): Block[] {
  const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  let lastNonBlank = '';
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*```(\w*)\s*$/.exec(lines[i]);
    if (!open) {
      if (lines[i].trim()) lastNonBlank = lines[i].trim();
      continue;
    }
    const marker = /^<!--\s*(.*?)\s*-->$/.exec(lastNonBlank)?.[1] ?? null;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    blocks.push({ file, line: start + 1, lang: open[1], marker, text: body.join('\n') });
    lastNonBlank = '';
  }
  return blocks;
}

const ALL = DOCS.flatMap(blocksOf);
const where = (b: Block) => `${b.file}:${b.line}`;

/** `payload: create-charge, file: charge.json` → { payload: 'create-charge', file: 'charge.json' }. */
function markerFields(marker: string | null): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const part of (marker ?? '').split(',')) {
    const m = /^\s*([\w-]+)\s*:\s*(.*?)\s*$/.exec(part);
    if (m) fields[m[1]] = m[2];
  }
  return fields;
}

const payloadBlocks = ALL.filter((b) => b.lang === 'json' && markerFields(b.marker).payload);

function onlyBlock(key: string, value: string): Block {
  const found = ALL.filter((b) => markerFields(b.marker)[key] === value);
  expect(found, `one block marked <!-- ${key}: ${value} -->`).to.have.length(1);
  return found[0];
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // A snippet that leaves a connection open never exits: that is a failure, not a hang of the suite.
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? null : code, stdout, stderr: signal ? `${stderr}\n(killed by ${signal} after ${opts.timeoutMs} ms)` : stderr });
    });
  });
}

describe('documentation examples: JSON payloads and links', () => {
  it('finds the docs and their payload examples', () => {
    expect(DOCS).to.include.members(['README.md', 'docs/jobs.md', 'docs/operations.md', 'docs/explainability.md', 'docs/legacy-migration.md', 'docs/architecture.md', 'docs/performance.md']);
    expect(payloadBlocks.length).to.be.greaterThan(QUEUE_NAMES.length);
  });

  it('shows at least one payload for every job kind in docs/jobs.md', () => {
    const shown = new Set(payloadBlocks.filter((b) => b.file === 'docs/jobs.md').map((b) => markerFields(b.marker).payload));
    for (const queue of QUEUE_NAMES) expect(shown.has(queue), `docs/jobs.md has a <!-- payload: ${queue} --> example`).to.equal(true);
  });

  it('parses every ```json block (one document, or one per line for log lines)', () => {
    const jsonBlocks = ALL.filter((b) => b.lang === 'json');
    expect(jsonBlocks.length).to.be.greaterThan(0);
    for (const b of jsonBlocks) {
      try {
        JSON.parse(b.text);
      } catch {
        for (const line of b.text.split('\n').filter((l) => l.trim())) {
          expect(() => JSON.parse(line), `${where(b)}: ${line.slice(0, 80)}`).to.not.throw();
        }
      }
    }
  });

  it("validates every marked payload against its job's yup schema", () => {
    for (const b of payloadBlocks) {
      const queue = markerFields(b.marker).payload;
      const def = jobDefinition(queue);
      expect(def, `${where(b)}: "${queue}" is a queue`).to.not.equal(undefined);
      const data = JSON.parse(b.text);
      try {
        validate(def!.schema, data);
      } catch (err) {
        throw new Error(`${where(b)}: the ${queue} example is not a valid payload: ${(err as Error).message}`);
      }
    }
  });

  it('would catch a broken example: an amount as a number, an id that is not a ULID', () => {
    const b = onlyBlock('file', 'charge.json');
    const good = JSON.parse(b.text);
    const schema = jobDefinition('create-charge')!.schema;
    expect(() => validate(schema, { ...good, amountBeforeProration: 100 })).to.throw(ValidationError, /amountBeforeProration/);
    expect(() => validate(schema, { ...good, id: '01JD00000000000000000000L1' })).to.throw(ValidationError, /id must be a ULID/);
  });

  it('writes every ULID-looking id in the docs in Crockford base32 (no I, L, O, U)', () => {
    for (const file of DOCS) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      for (const id of text.match(/\b01[0-9A-Z]{24}\b/g) ?? []) {
        expect(id, `${file}: ${id}`).to.match(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      }
    }
  });

  it('links only to files and headings that exist', () => {
    // GitHub's anchors: the heading in lower case, punctuation dropped, spaces as hyphens.
    const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
    const anchorsOf = (file: string) => new Set(readFileSync(file, 'utf8').split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, ''))));
    for (const file of DOCS) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(m[1])) continue;
        const [target, anchor] = m[1].split('#');
        const resolved = target ? path.resolve(path.dirname(path.join(ROOT, file)), target) : path.join(ROOT, file);
        expect(existsSync(resolved), `${file}: link ${m[1]}`).to.equal(true);
        if (anchor) expect([...anchorsOf(resolved)], `${file}: link ${m[1]}`).to.include(anchor);
      }
    }
  });

  it('links every docs page from the README', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const page of DOCS.filter((f) => f.startsWith('docs/')).concat('CONTRIBUTING.md', 'bench/README.md')) {
      expect(readme, `README links ${page}`).to.contain(`](${page})`);
    }
  });
});

describe('documentation examples: the TypeScript producer snippet', () => {
  const snippet = () => onlyBlock('example', 'producer');
  const config = loadConfig();
  const dirs: string[] = [];

  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** A project of its own that depends on this checkout as `flatfee-worker`, as an upstream service would. */
  function project(type: 'module' | 'commonjs'): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), `ffw-docs-${type}-`));
    dirs.push(dir);
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(ROOT, path.join(dir, 'node_modules', 'flatfee-worker'), 'dir');
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `docs-${type}`, private: true, type, dependencies: { 'flatfee-worker': '*' } }, null, 2));
    writeFileSync(path.join(dir, 'snippet.ts'), `${snippet().text}\n`);
    return dir;
  }

  for (const type of ['module', 'commonjs'] as const) {
    it(`runs as written in a ${type === 'module' ? 'ESM' : 'CommonJS'} project, enqueues both jobs and closes its connections`, async function () {
      this.timeout(90000);
      const prefix = testPrefix(`docs-${type}`);
      const dir = project(type);
      const out = await run(path.join(ROOT, 'node_modules/.bin/tsx'), ['snippet.ts'], {
        cwd: dir,
        env: { ...process.env, REDIS_URL: config.redisUrl, QUEUE_PREFIX: prefix },
        timeoutMs: 60000,
      });
      try {
        expect(out.code, `exit code; stderr:\n${out.stderr}`).to.equal(0);
        // No worker runs on this prefix: the outcome the snippet prints is a job still waiting.
        expect(out.stdout).to.match(/state: 'waiting'/);
        const created = new Queue('create-charge', { connection: redisOptions(config.redisUrl, 'producer'), prefix });
        const allocated = new Queue('allocate-credit', { connection: redisOptions(config.redisUrl, 'producer'), prefix });
        try {
          const [charge] = await created.getJobs(['waiting']);
          const [allocation] = await allocated.getJobs(['waiting']);
          expect(charge.data).to.include({ namespace: 'acme', id: '01JD0000000000000000000001', idempotencyKey: 'sub-sync:01JD0000000000000000000001' });
          expect(allocation.data).to.include({ chargeId: '01JD0000000000000000000001', idempotencyKey: 'ledger-tx-1' });
          expect(charge.opts.attempts).to.equal(8);
        } finally {
          await Promise.all([created.close(), allocated.close()]);
        }
      } finally {
        await dropPrefix(prefix);
      }
    });
  }

  it('type-checks as written against the package entry (strict)', async function () {
    this.timeout(120000);
    const dir = project('module');
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          skipLibCheck: true,
          esModuleInterop: true,
          resolveJsonModule: true,
          lib: ['ES2022'],
          types: ['node'],
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
          baseUrl: '.',
          paths: { 'flatfee-worker': [path.join(ROOT, 'src/index.ts')] },
        },
        files: ['snippet.ts'],
      }),
    );
    const out = await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir, env: process.env, timeoutMs: 110000 });
    expect(out.code, `${out.stdout}${out.stderr}`).to.equal(0);
  });
});

describe('documentation examples: the CLI', () => {
  const program = buildProgram();
  const commands = new Map(program.commands.map((c) => [c.name(), c]));

  /** Every `npx flatfee-worker <command> …` in the docs, up to the end of its line or code span. */
  function namedInvocations(): Array<{ file: string; command: string; options: string[] }> {
    const found: Array<{ file: string; command: string; options: string[] }> = [];
    for (const file of DOCS) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/npx flatfee-worker ([^\n`#]*)/g)) {
        const words = m[1].trim().split(/\s+/);
        if (!/^[a-z][a-z-]*$/.test(words[0] ?? '')) continue;
        found.push({ file, command: words[0], options: words.filter((w) => /^--[a-z][a-z-]*$/.test(w)) });
      }
    }
    return found;
  }

  it('names only commands and options that `npx flatfee-worker --help` shows', async function () {
    this.timeout(60000);
    const named = namedInvocations();
    expect(named.length).to.be.greaterThan(10);
    const help = await runCli(['--help'], cliEnv({}));
    expect(help.code).to.equal(0);
    for (const { file, command, options } of named) {
      expect(help.stdout, `${file}: npx flatfee-worker ${command}`).to.match(new RegExp(`^  ${command}\\b`, 'm'));
      const known = commands.get(command)!.options.map((o) => o.long);
      for (const option of options.filter((o) => o !== '--help')) expect(known, `${file}: npx flatfee-worker ${command} ${option}`).to.include(option);
    }
  });

  describe('the first run of the README, against a test database and a worker', () => {
    const db = useTestDatabase('docs_first_run');
    const h = useWorkerHarness('docs-first-run', () => db().knex);
    let dir = '';

    before(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'ffw-docs-cli-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('enqueues the charge, lists the job, reads the charge back and shows its history', async function () {
      this.timeout(120000);
      const file = onlyBlock('file', 'charge.json');
      writeFileSync(path.join(dir, 'charge.json'), file.text);
      const lines = onlyBlock('cli', 'first-run')
        .text.split('\n')
        .map((l) => l.replace(/#.*$/, '').trim())
        .filter(Boolean);
      expect(lines.length).to.be.greaterThan(2);
      const env = cliEnv({ DATABASE_URL: db().url, REDIS_URL: loadConfig().redisUrl, QUEUE_PREFIX: h().prefix });
      const outputs: Record<string, string> = {};
      for (const line of lines) {
        expect(line, 'a first-run line is a flatfee-worker command without quoting').to.match(/^npx flatfee-worker [^'"]+$/);
        const args = line.replace(/^npx flatfee-worker /, '').split(/\s+/);
        const out = await run(process.execPath, [BIN, ...args], { cwd: dir, env, timeoutMs: 30000 });
        expect(out.code, `${line}\n${out.stderr}`).to.equal(0);
        outputs[args.join(' ')] = out.stdout;
        if (args[0] === 'enqueue') {
          const job = await h().queues.queue(args[1] as QueueName).getJob(out.stdout.trim());
          expect(job, `job ${out.stdout.trim()} enqueued`).to.not.equal(undefined);
          const outcome = await h().wait(job!);
          expect(outcome.state, String(outcome.failedReason)).to.equal('completed');
        }
      }
      const chargeId = '01JD0000000000000000000001';
      expect(outputs['jobs create-charge']).to.match(/completed/);
      expect(outputs[`charge acme ${chargeId}`]).to.contain(chargeId);
      const json = JSON.parse(outputs[`charge acme ${chargeId} --json`]);
      expect(json).to.include({ id: chargeId, namespace: 'acme', status: 'active', amountAfterProration: '100' });
      expect(json.realizations.currentRun).to.not.equal(null);
      expect(outputs[`history acme ${chargeId}`]).to.match(/create-charge\s+\S+\s+1\s+applied/);
    });
  });
});
