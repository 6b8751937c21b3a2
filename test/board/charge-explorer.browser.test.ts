import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Browser, BrowserContext, chromium, Page } from 'playwright-core';
import { ulid } from 'ulid';
import { BoardServer } from '../../src/board/server';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, NS, totals } from '../helpers/fixtures';
import { JobOutcome, useWorkerHarness } from '../helpers/queue';
import { CHROMIUM_ARGS, ensureChromium } from './chromium';
import { EXPLORER_PASSWORD, EXPLORER_USER, startExplorerBoard } from './explorer';

const ARTIFACTS = path.resolve(__dirname, '../artifacts');
const DOCS_IMAGE = path.resolve(__dirname, '../../docs/images/charge-explorer.png');

// A charge's whole life through real jobs on a real worker, then its page as a person sees it.
describe('charge explorer in a real browser', () => {
  const db = useTestDatabase('explorer_browser');
  const h = useWorkerHarness('explorer-browser', () => db().knex);
  let board: BoardServer;
  let browser: Browser;
  let context: BrowserContext;
  const chargeId = ulid();
  const lineId = ulid();
  const invoiceId = ulid();
  const jobs: Record<string, JobOutcome> = {};

  const step = async (label: string, queue: Parameters<ReturnType<typeof h>['run']>[0], payload: Record<string, unknown>, state = 'completed') => {
    const out = await h().run(queue, { namespace: NS, ...payload });
    expect(out.state, `${label}: ${out.failedReason ?? ''}`).to.equal(state);
    jobs[label] = out;
  };

  before(async function () {
    // Installing chromium on a fresh machine takes minutes; the test itself stays well under one.
    this.timeout(600000);
    const executablePath = ensureChromium();
    const payment = { chargeId, lineId, invoiceId };
    // given: create, allocate, usage, authorize, settle, a rejected retry of the settlement, delete
    await step('create', 'create-charge', chargePayload({
      id: chargeId,
      customerId: 'cust-acme',
      name: 'Platform fee — Pro plan',
      settlementMode: 'credit_then_invoice',
      amountBeforeProration: '100',
      servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-01-16T00:00:00Z' },
      fullServicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
      metadata: { plan: 'pro', note: '<script>alert(1)</script>' },
    }));
    await step('allocate', 'allocate-credit', { chargeId, realizations: [allocation('20', { transactionGroupId: 'ledger-tg-1', annotations: { source: 'promo credit' } })] });
    await step('usage', 'create-invoiced-usage', {
      ...payment,
      servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-01-16T00:00:00Z' },
      totals: totals({ amount: '48.39', chargesTotal: '48.39', taxesExclusiveTotal: '4.84', taxesTotal: '4.84', creditsTotal: '20', total: '33.23' }),
      detailedLines: [
        { childUniqueReferenceId: 'base', name: 'Pro plan (15 of 31 days)', quantity: '1', perUnitAmount: '48.39', totals: totals({ amount: '48.39', total: '48.39' }) },
      ],
    });
    await step('authorize', 'payment', { ...payment, action: 'authorize', transactionGroupId: 'pay-auth-1' });
    await step('settle', 'payment', { ...payment, action: 'settle', transactionGroupId: 'pay-settle-1' });
    await step('settle again', 'payment', { ...payment, action: 'settle', transactionGroupId: 'pay-settle-2' }, 'failed');
    await step('delete', 'delete-charge', { chargeId, transactionGroupId: 'refund-1', at: '2026-01-20T00:00:00Z' });
    board = await startExplorerBoard(db(), h().prefix);
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 30000 });
    context = await browser.newContext({ httpCredentials: { username: EXPLORER_USER, password: EXPLORER_PASSWORD }, viewport: { width: 1280, height: 900 } });
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await board?.close();
  });

  /** Opens a page and collects what the browser reports, so a CSP violation fails the test. */
  async function open(url: string): Promise<{ page: Page; problems: string[] }> {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    const res = await page.goto(url);
    expect(res!.status()).to.equal(200);
    return { page, problems };
  }

  it('finds the charge from its id pasted into the search form', async function () {
    this.timeout(30000);
    const { page, problems } = await open(new URL('/charges', board.url).toString());
    await page.getByLabel('Charge id').fill(chargeId.toLowerCase());
    await Promise.all([page.waitForURL(`**/charges/${NS}/${chargeId}`), page.getByRole('button', { name: 'Find' }).click()]);
    expect(await page.locator('h1').innerText()).to.equal('Platform fee — Pro plan deleted');
    expect(problems).to.deep.equal([]);
    await page.close();
  });

  it('shows the deleted charge, its totals, the allocation with its correction and the journal with the rejected retry', async function () {
    this.timeout(45000);
    const { page, problems } = await open(new URL(`/charges/${NS}/${chargeId}`, board.url).toString());

    // the first thing on the page says the charge is deleted, styled by the hashed style sheet
    const banner = page.locator('main > :first-child');
    expect(await banner.innerText()).to.equal('Deleted charge: deleted at 2026-01-20 00:00:00 UTC. Its runs and journal are kept as history.');
    expect(await banner.evaluate((el: any) => el.ownerDocument.defaultView.getComputedStyle(el).backgroundColor)).to.equal('rgb(255, 235, 233)');
    expect(await page.locator('dd[data-status]').innerText()).to.equal('deleted');
    expect(await page.locator('dd[data-realized-credits]').innerText()).to.equal('$0.00 = $20.00 allocated − $20.00 corrected (current run)');
    expect(await page.locator('[data-ratio]').innerText()).to.equal('15/31');
    expect(await page.locator('[data-rounding-delta]').innerText()).to.equal('$0.00290322580645161290322580645161290323');

    const run = page.locator('section.current-run');
    const total = (key: string) => run.locator(`.totals[aria-label="run totals"] [data-total="${key}"] b`).innerText();
    expect([await total('amount'), await total('creditsTotal'), await total('taxesTotal'), await total('total')]).to.deep.equal(['$48.39', '$20.00', '$4.84', '$33.23']);

    const rows = run.locator('table.realizations tbody tr');
    expect(await rows.count()).to.equal(2);
    const [allocationRow, correctionRow] = [rows.nth(0), rows.nth(1)];
    expect(await allocationRow.getAttribute('data-type')).to.equal('allocation');
    expect(await allocationRow.locator('td.num').allInnerTexts()).to.deep.equal(['$20.00', '$0.00']);
    expect(await correctionRow.getAttribute('class')).to.equal('nested');
    expect(await correctionRow.locator('td.num').allInnerTexts()).to.deep.equal(['-$20.00', '']);
    const allocationId = (await allocationRow.getAttribute('data-realization'))!;
    expect(await correctionRow.innerText()).to.contain(`↳ corrects ${allocationId}`);
    expect(await correctionRow.evaluate((el: any) => el.ownerDocument.defaultView.getComputedStyle(el.firstElementChild).paddingLeft)).to.equal('28px');
    expect(await run.locator('dl.payment').innerText()).to.match(/^Status\nsettled \$33\.23\n/);
    expect(await run.locator('table.detailed-lines tbody tr').count()).to.equal(1);
    expect(await page.locator('pre.metadata').innerText()).to.contain('"note": "<script>alert(1)</script>"');

    const journal = page.locator('table.journal tbody tr');
    const outcomes = await journal.evaluateAll((trs) => trs.map((tr) => [tr.children[1].textContent, tr.getAttribute('data-outcome')]));
    expect(outcomes).to.deep.equal([
      ['create-charge', 'applied'],
      ['allocate-credit', 'applied'],
      ['create-invoiced-usage', 'applied'],
      ['payment', 'applied'],
      ['payment', 'applied'],
      ['payment', 'rejected'],
      ['delete-charge', 'applied'],
    ]);
    const rejected = journal.nth(5);
    expect(await rejected.locator('td').nth(5).innerText()).to.match(/^payment_already_settled\npayment_already_settled: /);
    expect(await rejected.locator('td').nth(3).innerText()).to.equal('1');
    const rejectedJob = jobs['settle again'].job;
    const link = rejected.locator('a.job');
    expect(await link.innerText()).to.equal(rejectedJob.id);
    expect(await link.getAttribute('href')).to.equal(`/queue/payment/${rejectedJob.id}`);
    expect(await journal.nth(6).locator('td').nth(7).innerText()).to.equal('–');
    expect(problems).to.deep.equal([]);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'charge-explorer.png');
    await page.screenshot({ path: shot, fullPage: true });
    // The docs keep a copy; refreshed on request so a test run leaves the work tree unchanged.
    if (process.env.UPDATE_DOCS_SCREENSHOTS) {
      mkdirSync(path.dirname(DOCS_IMAGE), { recursive: true });
      copyFileSync(shot, DOCS_IMAGE);
    }

    // the job id leads to that job in Bull Board, with its failure
    await Promise.all([page.waitForURL(`**/queue/payment/${rejectedJob.id}`), link.click()]);
    await page.getByText(/payment_already_settled: /).first().waitFor({ timeout: 15000 });
    await page.close();
  });

  it("leads from the charge to its customer's charges, with status, amount and realized credits", async function () {
    this.timeout(30000);
    const { page, problems } = await open(new URL(`/charges/${NS}/${chargeId}`, board.url).toString());
    await Promise.all([page.waitForURL(/\/charges\?namespace=ns-test&customer=cust-acme$/), page.getByRole('link', { name: 'cust-acme' }).click()]);
    const rows = await page.locator('table.charges tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.children as ArrayLike<{ textContent: string | null }>, (td) => td.textContent!.trim())));
    expect(rows.map((r) => r.slice(1, 5))).to.deep.equal([['deleted', 'credit then invoice', '$48.39', '$0.00']]);
    expect(rows[0][0]).to.equal(`${chargeId}Platform fee — Pro plan`);
    expect(problems).to.deep.equal([]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'charge-explorer-customer.png') });
    await page.close();
  });

  it("links to the explorer from Bull Board's header", async function () {
    this.timeout(30000);
    const { page } = await open(board.url);
    await page.getByText('payment', { exact: true }).first().waitFor({ timeout: 15000 });
    // Bull Board puts its misc links in a menu at the right end of the header
    await page.locator('header ul li:last-child button').click();
    const link = page.getByRole('menuitem', { name: 'Charge explorer' });
    await link.waitFor({ timeout: 5000 });
    await Promise.all([page.waitForURL('**/charges'), link.click()]);
    expect(await page.locator('h1').innerText()).to.equal('Find a charge');
    await page.close();
  });
});
