import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Browser, chromium } from 'playwright-core';
import pino from 'pino';
import { ulid } from 'ulid';
import { BoardServer, startBoard } from '../../src/board/server';
import { loadConfig } from '../../src/config';
import { QUEUE_NAMES } from '../../src/queues/registry';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';
import { CHROMIUM_ARGS, ensureChromium } from './chromium';

const ARTIFACTS = path.resolve(__dirname, '../artifacts');
const credentials = { username: 'ops', password: 'browser-test-secret' };

describe('Bull Board in a real browser', () => {
  const db = useTestDatabase('board_browser');
  const h = useWorkerHarness('board-browser', () => db().knex);
  let board: BoardServer;
  let browser: Browser;
  let failedJobId: string;
  const missingChargeId = ulid();

  before(async function () {
    // Installing chromium on a fresh machine takes minutes; the test itself stays well under one.
    this.timeout(600000);
    const executablePath = ensureChromium();
    const failed = await h().run('activate-charge', { namespace: NS, chargeId: missingChargeId });
    expect(failed.failedReason).to.match(/^charge_not_found: /);
    failedJobId = failed.job.id!;
    expect((await h().run('create-charge', chargePayload())).state).to.equal('completed');
    board = await startBoard({
      knex: db().knex,
      logger: pino({ level: 'silent' }),
      redisUrl: loadConfig().redisUrl,
      prefix: h().prefix,
      port: 0,
      host: '127.0.0.1',
      user: credentials.username,
      password: credentials.password,
      readOnly: false,
    });
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 30000 });
  });

  after(async () => {
    await browser?.close();
    await board?.close();
  });

  it('logs in with basic auth, lists every queue and shows the failed job with its error code', async function () {
    this.timeout(45000);
    const context = await browser.newContext({ httpCredentials: credentials, viewport: { width: 1400, height: 1000 } });
    try {
      const page = await context.newPage();
      const home = await page.goto(board.url);
      expect(home!.status()).to.equal(200);
      for (const queue of QUEUE_NAMES) await page.getByText(queue, { exact: true }).first().waitFor({ timeout: 15000 });

      await page.goto(new URL('/queue/activate-charge?status=failed', board.url).toString());
      await page.getByText(/charge_not_found: charge not found/).first().waitFor({ timeout: 15000 });
      expect(await page.getByText(`#${failedJobId}`).count()).to.be.greaterThan(0);
      await page.getByText(`activate-charge · charge ${missingChargeId}`).first().waitFor({ timeout: 5000 });
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'board-failed-job.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  it('answers 401 to a browser without credentials', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const challenged = page.waitForResponse((r) => r.url() === board.url);
      // Headless Chromium has no login dialog: it aborts the navigation once the 401 challenge arrives.
      const navigation = await page.goto(board.url).then(() => 'loaded', (err: Error) => err.message);
      expect(navigation).to.contain('ERR_INVALID_AUTH_CREDENTIALS');
      const res = await challenged;
      expect(res.status()).to.equal(401);
      expect(res.headers()['www-authenticate']).to.match(/^Basic /);
      const api = await context.request.get(new URL('/api/queues', board.url).toString());
      expect(api.status()).to.equal(401);
    } finally {
      await context.close();
    }
  });
});
