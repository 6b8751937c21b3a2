import express, { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { Knex } from 'knex';
import type { Logger } from 'pino';
import { loadHistory } from '../../cli/history';
import { listChargesOfCustomer, locateCharge } from '../../db/charge-search';
import { isDomainError } from '../../domain/errors';
import { html } from './html';
import { chargeHref, CONTENT_SECURITY_POLICY, page } from './layout';
import { loadChargeDocument } from './load';
import { renderChargePage } from './render-charge';
import { DEFAULT_PAGE_SIZE as PAGE_SIZE, renderNotFoundPage, renderSearchPage, SearchOutcome, SearchQuery } from './render-search';

// The charge explorer (SPEC §6): /charges and /charges/<namespace>/<chargeId>, read-only whatever
// the board's mode. Mounted behind the board's basic auth.

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/i;

function wantsJson(req: Request): boolean {
  return req.accepts(['html', 'json']) === 'json';
}

/** Every explorer response: no scripts, no outside resources, not framed, not cached, not sniffed. */
const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  });
  next();
};

/** The explorer changes nothing: anything but GET (and the HEAD express derives from it) is refused. */
const readOnly: RequestHandler = (req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD') return next();
  res.set('Allow', 'GET, HEAD').status(405).type('text/plain').send('the charge explorer is read-only\n');
};

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** PostgreSQL text cannot hold NUL: such an id names no charge, rather than failing the query. */
function storable(...values: Array<string | undefined>): boolean {
  return values.every((v) => v === undefined || !v.includes('\u0000'));
}

function parseQuery(req: Request): SearchQuery {
  const q = text(req.query.q);
  const pageNumber = Number(text(req.query.page) ?? '1');
  const limit = Number(text(req.query.limit) ?? String(PAGE_SIZE));
  return {
    // A pasted ULID may come in lower case; charge ids are stored upper case.
    q: q && ULID.test(q) ? q.toUpperCase() : q,
    namespace: text(req.query.namespace),
    customer: text(req.query.customer),
    page: Number.isInteger(pageNumber) && pageNumber >= 1 && pageNumber <= 100_000 ? pageNumber : 1,
    pageSize: Number.isInteger(limit) && limit >= 1 && limit <= 200 ? limit : PAGE_SIZE,
  };
}

async function search(knex: Knex, query: SearchQuery): Promise<SearchOutcome | { kind: 'redirect'; to: string }> {
  if (!storable(query.q, query.namespace, query.customer)) return { kind: 'not_found', message: 'No charge has an id, namespace or customer with a NUL character.' };
  if (query.q) {
    const found = (await locateCharge(knex, query.q)).filter((m) => !query.namespace || m.namespace === query.namespace);
    if (found.length === 1) return { kind: 'redirect', to: chargeHref(found[0].namespace, found[0].id) };
    if (found.length > 1) return { kind: 'ambiguous', matches: found };
    const where = query.namespace ? `in namespace ${query.namespace}` : 'in any namespace';
    return { kind: 'not_found', message: `No charge ${query.q} ${where}.` };
  }
  if (query.customer && query.namespace) {
    const offset = (query.page - 1) * query.pageSize;
    const result = await listChargesOfCustomer(knex, query.namespace, query.customer, { offset, limit: query.pageSize });
    return { kind: 'list', namespace: query.namespace, customerId: query.customer, page: query.page, pageSize: query.pageSize, result };
  }
  if (query.customer) return { kind: 'incomplete', message: "A customer's charges are listed within one namespace: give the namespace too." };
  return { kind: 'form' };
}

function statusOf(outcome: SearchOutcome): number {
  return outcome.kind === 'not_found' ? 404 : outcome.kind === 'incomplete' ? 400 : 200;
}

function sendSearch(req: Request, res: Response, query: SearchQuery, outcome: Awaited<ReturnType<typeof search>>): void {
  if (outcome.kind === 'redirect') {
    if (wantsJson(req)) res.json({ location: outcome.to });
    else res.redirect(302, outcome.to);
    return;
  }
  res.status(statusOf(outcome));
  if (wantsJson(req)) res.json(outcome);
  else res.type('html').send(renderSearchPage(query, outcome));
}

function errorPage(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const code = isDomainError(err) ? err.code : 'internal_error';
    const message = err instanceof Error ? err.message : String(err);
    logger.error({ err, path: req.path }, 'charge explorer: request failed');
    res.status(500);
    if (wantsJson(req)) res.json({ error: code, message });
    else {
      const text = message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
      res.type('html').send(page('Error', html`<h1>Could not read this charge</h1><p class="error-text"><code>${code}</code>: ${text}</p>`));
    }
  };
}

export function chargeExplorer(knex: Knex, logger: Logger): express.Router {
  const router = express.Router();
  router.use(securityHeaders, readOnly);
  router.get('/', async (req, res) => {
    const query = parseQuery(req);
    sendSearch(req, res, query, await search(knex, query));
  });
  router.get('/:namespace/:chargeId', async (req, res) => {
    const { namespace, chargeId } = req.params as { namespace: string; chargeId: string };
    const doc = storable(namespace, chargeId) ? await loadChargeDocument(knex, namespace, chargeId) : null;
    if (!doc) {
      const history = storable(namespace, chargeId) ? await loadHistory(knex, namespace, chargeId) : null;
      res.status(404);
      const message = `charge not found [namespace=${namespace} charge_id=${chargeId}]`;
      if (wantsJson(req)) res.json({ error: 'charge_not_found', message, ...(history ? { history } : {}) });
      else res.type('html').send(renderNotFoundPage(namespace, chargeId, history));
      return;
    }
    if (wantsJson(req)) res.json(doc);
    else res.type('html').send(renderChargePage(doc));
  });
  router.use(errorPage(logger));
  return router;
}
