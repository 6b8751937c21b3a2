import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { ulid } from 'ulid';
import { CONTENT_SECURITY_POLICY } from '../../src/board/charges/layout';
import { BoardServer } from '../../src/board/server';
import { explainCharge } from '../../src/cli/explain';
import { loadHistory } from '../../src/cli/history';
import { chargeJson, toPlainJson } from '../../src/cli/render';
import { toDbRun } from '../../src/db/mapping';
import { getCharge } from '../../src/db/read-charge';
import { provisionRun } from '../../src/domain/run';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, correction, NS } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';
import { basicHeader, startExplorerBoard } from './explorer';

const SCRIPT = '<script>alert(1)</script>';
const ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;';
const CUSTOMER = 'cust-explorer';
const T0 = Date.parse('2026-01-05T00:00:00Z');
const asJson = (value: unknown) => JSON.parse(JSON.stringify(value));
const BIN = path.resolve(__dirname, '../../bin/flatfee-worker.js');

describe('charge explorer over HTTP: auth, 404, escaping, JSON, read-only, search', () => {
  const db = useTestDatabase('charge_explorer');
  const h = useWorkerHarness('charge-explorer', () => db().knex);
  let board: BoardServer;
  // Ids in creation order, so "newest first" has one right answer even within one second.
  const [oldest, middle, newest] = [ulid(T0), ulid(T0 + 1000), ulid(T0 + 2000)];
  const never = ulid(T0 + 3000);
  let allocationId: string;

  const get = (path: string, headers: Record<string, string> = basicHeader()) => fetch(new URL(path, board.url), { headers, redirect: 'manual' });
  const getJson = (path: string) => get(path, { ...basicHeader(), accept: 'application/json' });
  const run = async (queue: Parameters<ReturnType<typeof h>['run']>[0], payload: Record<string, unknown>) => {
    const out = await h().run(queue, payload);
    expect(out.state, out.failedReason ?? '').to.equal('completed');
    return out;
  };

  before(async function () {
    this.timeout(60000);
    // given: a charge whose name, metadata and annotations carry markup, with an allocation and its correction
    await run('create-charge', chargePayload({ id: oldest, customerId: CUSTOMER, settlementMode: 'credit_then_invoice', name: `Fee ${SCRIPT}`, metadata: { note: SCRIPT } }));
    const first = await run('allocate-credit', { namespace: NS, chargeId: oldest, realizations: [allocation('30', { annotations: { memo: SCRIPT } })] });
    allocationId = (first.result!.realizationIds as string[])[0];
    await run('allocate-credit', { namespace: NS, chargeId: oldest, realizations: [correction('-10', allocationId)] });
    await run('create-charge', chargePayload({ id: middle, customerId: CUSTOMER, settlementMode: 'invoice_only', amountBeforeProration: '250' }));
    await run('create-charge', chargePayload({ id: newest, customerId: CUSTOMER, settlementMode: 'credit_only', amountBeforeProration: '12.5' }));
    // and a create-charge the worker refused, so its id names no charge but has a journal
    const refused = await h().run('create-charge', chargePayload({ id: never, amountBeforeProration: 12.5 }));
    expect(refused.failedReason).to.match(/^validation_failed: /);
    board = await startExplorerBoard(db(), h().prefix);
  });

  after(async () => {
    await board?.close();
  });

  it('answers 401 without credentials or with a wrong password, the JSON form included', async () => {
    for (const path of ['/charges', `/charges/${NS}/${oldest}`, `/charges?q=${oldest}`]) {
      for (const headers of [{}, basicHeader('ops', 'wrong'), { accept: 'application/json' }]) {
        const res = await get(path, headers);
        expect(res.status, `${path} ${JSON.stringify(headers)}`).to.equal(401);
        expect(res.headers.get('www-authenticate')).to.match(/^Basic realm="flatfee-worker"/);
        expect(await res.text()).to.equal('authentication required\n');
      }
    }
  });

  it('answers 404 for an unknown charge, as a page and as JSON, echoing the path escaped', async () => {
    const unknown = ulid();
    const page = await get(`/charges/${encodeURIComponent(SCRIPT)}/${unknown}`);
    expect(page.status).to.equal(404);
    const body = await page.text();
    expect(body).to.contain(`No charge <code>${unknown}</code> in namespace <code>${ESCAPED}</code>.`);
    expect(body).to.not.match(/<script/i);
    const json = await getJson(`/charges/${NS}/${unknown}`);
    expect(json.status).to.equal(404);
    expect(await json.json()).to.deep.equal({ error: 'charge_not_found', message: `charge not found [namespace=${NS} charge_id=${unknown}]` });
  });

  it('answers 404 for an id no charge has, and shows the jobs that named it and why they were refused', async () => {
    const page = await get(`/charges/${NS}/${never}`);
    expect(page.status).to.equal(404);
    const rows = (await page.text()).match(/<tr data-entry="\d+" data-outcome="\w+">[\s\S]*?<\/tr>/g)!;
    expect(rows).to.have.length(1);
    expect(rows[0]).to.match(/data-outcome="rejected"><td class="mono nowrap">[^<]+ UTC<\/td><td class="nowrap">create-charge<\/td>/);
    expect(rows[0]).to.contain('<code class="error-text">validation_failed</code>');
    const json: any = await (await getJson(`/charges/${NS}/${never}`)).json();
    expect(json.history).to.deep.equal(asJson(await loadHistory(db().knex, NS, never)));
    expect(json.history.entries.map((e: any) => [e.queue, e.outcome, e.errorCode])).to.deep.equal([['create-charge', 'rejected', 'validation_failed']]);
  });

  it('renders markup from names, metadata and annotations as text, under a strict CSP', async () => {
    const res = await get(`/charges/${NS}/${oldest}`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).to.equal(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).to.match(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'$/);
    expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
    const body = await res.text();
    expect(body).to.not.match(/<script/i);
    expect(body).to.contain(`<title>Charge ${oldest} · flatfee-worker</title>`);
    expect(body).to.contain(`<h1>Fee ${ESCAPED} <span class="badge active">active</span></h1>`);
    expect(body).to.contain(`<pre class="metadata">{\n  &quot;note&quot;: &quot;${ESCAPED}&quot;\n}</pre>`);
    expect(body).to.contain(`<pre class="small">{\n  &quot;memo&quot;: &quot;${ESCAPED}&quot;\n}</pre>`);
  });

  it('serves as JSON exactly what charge --json, history --json and explain --json print', async () => {
    const res = await getJson(`/charges/${NS}/${oldest}`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
    const doc: any = await res.json();
    const charge = await getCharge(db().knex, NS, oldest, { expand: ['realizations', 'detailedLines'] });
    expect(doc).to.deep.equal({
      charge: asJson(chargeJson(charge!)),
      history: asJson(await loadHistory(db().knex, NS, oldest)),
      proration: asJson(toPlainJson(await explainCharge(db().knex, NS, oldest))),
    });
    // and the parts a script reads are what the jobs did
    expect(doc.charge.realizations.currentRun.creditRealizations.map((r: any) => [r.type, r.amount, r.correctsRealizationId])).to.deep.equal([
      ['allocation', '30', null],
      ['correction', '-10', allocationId],
    ]);
    expect(doc.history.entries.map((e: any) => [e.queue, e.outcome])).to.deep.equal([
      ['create-charge', 'applied'],
      ['allocate-credit', 'applied'],
      ['allocate-credit', 'applied'],
    ]);
  });

  it('serves the very documents the CLI prints for charge, history and explain --json', async function () {
    this.timeout(30000);
    const cli = async (...args: string[]) => {
      const env = { ...process.env, DATABASE_URL: db().url, LOG_LEVEL: 'silent' };
      return JSON.parse((await promisify(execFile)('node', [BIN, ...args, NS, oldest, '--json'], { env })).stdout);
    };
    const [charge, history, proration] = await Promise.all([cli('charge'), cli('history'), cli('explain')]);
    expect(await (await getJson(`/charges/${NS}/${oldest}`)).json()).to.deep.equal({ charge, history, proration });
  });

  it('shows allocations with their remaining amount and corrections nested under them, amounts in the currency', async () => {
    const body = await (await get(`/charges/${NS}/${oldest}`)).text();
    const rows = body.match(/<tr class="[^"]*" data-realization="[^"]+" data-type="[a-z]+">[\s\S]*?<\/tr>/g)!;
    expect(rows).to.have.length(2);
    expect(rows[0]).to.match(new RegExp(`^<tr class="" data-realization="${allocationId}" data-type="allocation">`));
    expect(rows[0]).to.contain('<td class="num">$30.00</td>\n<td class="num">$20.00</td>');
    expect(rows[1]).to.match(/^<tr class="nested" data-realization="\w{26}" data-type="correction">/);
    expect(rows[1]).to.contain(`↳ corrects ${allocationId}`);
    expect(rows[1]).to.contain('<td class="num">-$10.00</td>\n<td class="num"></td>');
    expect(body).to.contain('Realized on this run: <b data-realized>$20.00</b>');
  });

  it('stays read-only on a writable board: every other method is 405 and nothing changes', async () => {
    const before = await (await getJson(`/charges/${NS}/${oldest}`)).json();
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      for (const path of ['/charges', `/charges/${NS}/${oldest}`]) {
        const res = await fetch(new URL(path, board.url), { method, headers: { ...basicHeader(), 'content-type': 'application/json' }, body: '{}' });
        expect(res.status, `${method} ${path}`).to.equal(405);
        expect(res.headers.get('allow')).to.equal('GET, HEAD');
      }
    }
    const head = await fetch(new URL(`/charges/${NS}/${oldest}`, board.url), { method: 'HEAD', headers: basicHeader() });
    expect(head.status).to.equal(200);
    expect(await (await getJson(`/charges/${NS}/${oldest}`)).json()).to.deep.equal(before);
  });

  it('finds a charge from a pasted id alone (any case, stray spaces), and says so when no namespace has it', async () => {
    const found = await get(`/charges?q=${encodeURIComponent(`  ${oldest.toLowerCase()} `)}`);
    expect(found.status).to.equal(302);
    expect(found.headers.get('location')).to.equal(`/charges/${NS}/${oldest}`);
    expect(await (await getJson(`/charges?q=${middle}`)).json()).to.deep.equal({ location: `/charges/${NS}/${middle}` });
    const elsewhere = await get(`/charges?q=${oldest}&namespace=ns-other`);
    expect(elsewhere.status).to.equal(404);
    expect(await elsewhere.text()).to.contain(`No charge ${oldest} in namespace ns-other.`);
    const missingId = ulid(T0);
    const missing = await getJson(`/charges?q=${missingId}`);
    expect(missing.status).to.equal(404);
    expect(await missing.json()).to.deep.equal({ kind: 'not_found', message: `No charge ${missingId} in any namespace.` });
    const noNamespace = await getJson(`/charges?customer=${CUSTOMER}`);
    expect(noNamespace.status).to.equal(400);
    expect(await noNamespace.json()).to.deep.equal({ kind: 'incomplete', message: "A customer's charges are listed within one namespace: give the namespace too." });
    // a NUL, which PostgreSQL text cannot hold, finds nothing instead of failing the query
    expect((await get(`/charges?q=a%00b`)).status).to.equal(404);
    expect((await get(`/charges?namespace=ns%00&customer=${CUSTOMER}`)).status).to.equal(404);
    expect((await get(`/charges/ns%00/${oldest}`)).status).to.equal(404);
  });

  it("lists a customer's charges newest first, a page at a time, with status, mode, amount and realized credits", async () => {
    const first: any = await (await getJson(`/charges?namespace=${NS}&customer=${CUSTOMER}&limit=2`)).json();
    expect(first.result.hasMore).to.equal(true);
    expect(first.result.items.map((c: any) => [c.id, c.status, c.settlementMode, c.amountAfterProration, c.realizedCredits])).to.deep.equal([
      [newest, 'created', 'credit_only', '12.5', '0'],
      [middle, 'active', 'invoice_only', '250', '0'],
    ]);
    const second: any = await (await getJson(`/charges?namespace=${NS}&customer=${CUSTOMER}&limit=2&page=2`)).json();
    expect(second.result).to.deep.equal({
      hasMore: false,
      items: [{ ...second.result.items[0], id: oldest, status: 'active', settlementMode: 'credit_then_invoice', amountAfterProration: '100', realizedCredits: '20' }],
    });
    const html = await (await get(`/charges?namespace=${NS}&customer=${CUSTOMER}&limit=2`)).text();
    expect(html).to.contain('<td class="num">$12.50</td>\n<td class="num">$0.00</td>');
    expect(html).to.contain(`<a rel="next" href="/charges?namespace=${NS}&amp;customer=${CUSTOMER}&amp;page=2&amp;limit=2">older →</a>`);
  });

  it('shows prior runs collapsed under the current one, each with why it is no longer current', async () => {
    // given: a run a credit note invalidated before the current one (as older deployments have them)
    const charge = (await getCharge(db().knex, NS, middle))!;
    const voided = { ...provisionRun(charge, ulid(T0 - 1000), new Date(T0 - 1000)), type: 'invalid_due_to_unsupported_credit_note' as const };
    await db().knex('charge_flat_fee_runs').insert(toDbRun(voided));
    const body = await (await get(`/charges/${NS}/${middle}`)).text();
    expect(body).to.contain('<h2>Prior runs <span class="muted small">(1)</span></h2>');
    const prior = body.match(/<details class="prior" data-run="(\w+)"><summary>[\s\S]*?<\/summary>/)!;
    expect(prior[1]).to.equal(voided.id);
    expect(prior[0]).to.contain('<span class="small muted why-prior">voided: invalidated by an unsupported credit note</span>');
    expect(prior[0]).to.contain('total $0.00');
  });

  it('answers 500 naming the code when the charge points at a run it does not own, as a page and as JSON', async () => {
    // given: a pointer to another charge's run, which getCharge refuses rather than showing a silent null
    const runId = (await getCharge(db().knex, NS, middle))!.currentRealizationRunId;
    await db().knex('charge_flat_fees').where({ namespace: NS, id: newest }).update({ current_realization_run_id: runId });
    const page = await get(`/charges/${NS}/${newest}`);
    expect(page.status).to.equal(500);
    expect(await page.text()).to.contain(
      `<p class="error-text"><code>current_realization_run_not_loaded</code>: current realization run [id=${runId}] not loaded for flat fee charge [id=${newest}]</p>`,
    );
    const json = await getJson(`/charges/${NS}/${newest}`);
    expect(json.status).to.equal(500);
    expect(await json.json()).to.deep.equal({
      error: 'current_realization_run_not_loaded',
      message: `current_realization_run_not_loaded: current realization run [id=${runId}] not loaded for flat fee charge [id=${newest}]`,
    });
  });
});
