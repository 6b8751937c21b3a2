import type { History } from '../../cli/history';
import type { ChargeListPage, ChargeLocation } from '../../db/charge-search';
import { formatMoney, formatTime, words } from './format';
import { html, Html } from './html';
import { badge, chargeHref, page, searchForm } from './layout';
import { journalSection } from './render-journal';

// The /charges page: the search form, and what a search found.

export const DEFAULT_PAGE_SIZE = 25;

export interface SearchQuery {
  q?: string;
  namespace?: string;
  customer?: string;
  page: number;
  pageSize: number;
}

export type SearchOutcome =
  | { kind: 'form' }
  | { kind: 'ambiguous'; matches: ChargeLocation[] }
  | { kind: 'not_found'; message: string }
  | { kind: 'incomplete'; message: string }
  | { kind: 'list'; namespace: string; customerId: string; page: number; pageSize: number; result: ChargeListPage };

function listHref(o: Extract<SearchOutcome, { kind: 'list' }>, pageNumber: number): string {
  const size = o.pageSize === DEFAULT_PAGE_SIZE ? '' : `&limit=${o.pageSize}`;
  return `/charges?namespace=${encodeURIComponent(o.namespace)}&customer=${encodeURIComponent(o.customerId)}&page=${pageNumber}${size}`;
}

function chargeList(o: Extract<SearchOutcome, { kind: 'list' }>): Html {
  if (o.result.items.length === 0) return html`<p class="muted">No charges${o.page > 1 ? ' on this page' : ''}.</p>`;
  const rows = o.result.items.map(
    (c) => html`<tr data-charge="${c.id}"><td><a href="${chargeHref(c.namespace, c.id)}"><code>${c.id}</code></a><br>${c.name}</td>
<td>${badge(c.status)}</td><td>${words(c.settlementMode)}</td><td class="num">${formatMoney(c.amountAfterProration, c.currency)}</td>
<td class="num">${formatMoney(c.realizedCredits, c.currency)}</td><td>${formatTime(c.createdAt)}</td></tr>`,
  );
  const prev = o.page > 1 ? html`<a rel="prev" href="${listHref(o, o.page - 1)}">← newer</a>` : null;
  const next = o.result.hasMore ? html`<a rel="next" href="${listHref(o, o.page + 1)}">older →</a>` : null;
  return html`<table class="charges"><thead><tr><th>Charge</th><th>Status</th><th>Settlement mode</th><th class="num">Amount</th>
<th class="num">Realized credits</th><th>Created</th></tr></thead><tbody>${rows}</tbody></table>
<p class="pager">Page ${o.page} ${prev} ${next}</p>`;
}

function outcomeBody(o: SearchOutcome): Html | null {
  switch (o.kind) {
    case 'form':
      return html`<p class="muted">Paste a charge id (its namespace is found when the id is unique), or give a namespace and a customer to list their charges, newest first.</p>`;
    case 'not_found':
    case 'incomplete':
      return html`<p class="error-text" role="status">${o.message}</p>`;
    case 'ambiguous':
      return html`<p>This id exists in ${o.matches.length} namespaces; pick one:</p><ul>${o.matches.map(
        (m) => html`<li><a href="${chargeHref(m.namespace, m.id)}"><code>${m.namespace}</code> / <code>${m.id}</code></a></li>`,
      )}</ul>`;
    case 'list':
      return html`<h2>Charges of <code>${o.customerId}</code> in <code>${o.namespace}</code></h2>${chargeList(o)}`;
  }
}

export function renderSearchPage(query: SearchQuery, outcome: SearchOutcome): string {
  return page('Find a charge', [html`<h1>Find a charge</h1>`, searchForm(query), outcomeBody(outcome)]);
}

/** No such charge; jobs that named the id anyway (a rejected create-charge, say) are listed, as they explain why. */
export function renderNotFoundPage(namespace: string, chargeId: string, history: History | null): string {
  const entries = history?.entries ?? [];
  return page('Charge not found', [
    html`<h1>Charge not found</h1><p class="error-text">No charge <code>${chargeId}</code> in namespace <code>${namespace}</code>.</p>`,
    searchForm({ q: chargeId, namespace }),
    entries.length ? html`<p>Jobs named this id nonetheless:</p>${journalSection(entries, null)}` : null,
  ]);
}
