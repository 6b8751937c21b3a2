import { TOTAL_KEYS, TotalsJson } from '../../domain/totals';
import { formatMoney, formatPeriod, formatTime, words } from './format';
import { html, Html } from './html';
import { badge } from './layout';
import type { RunJson } from './load';
import { AllocationNode, nestRealizations, RealizationJson, realizedOn } from './view';

// One run: its eight totals, credit realizations (corrections under what they correct), invoiced
// usage with its detailed lines, and payment.

const TOTAL_LABELS: Record<(typeof TOTAL_KEYS)[number], string> = {
  amount: 'Amount',
  chargesTotal: 'Charges',
  discountsTotal: 'Discounts',
  taxesInclusiveTotal: 'Taxes incl.',
  taxesExclusiveTotal: 'Taxes excl.',
  taxesTotal: 'Taxes',
  creditsTotal: 'Credits',
  total: 'Total',
};

export function totalsGrid(totals: TotalsJson, currency: string, label: string): Html {
  const cells = TOTAL_KEYS.map((k) => html`<div data-total="${k}"><span>${TOTAL_LABELS[k]}</span><b>${formatMoney(totals[k], currency)}</b></div>`);
  return html`<div class="totals" aria-label="${label}">${cells}</div>`;
}

function annotations(r: RealizationJson): Html | null {
  return r.annotations ? html`<pre class="small">${JSON.stringify(r.annotations, null, 2)}</pre>` : null;
}

function realizationRow(r: RealizationJson, currency: string, remaining: string | null, nested: boolean): Html {
  const cls = [nested ? 'nested' : '', r.deletedAt ? 'deleted' : ''].filter(Boolean).join(' ');
  const corrects = nested ? html`<span class="muted small">↳ corrects ${r.correctsRealizationId}</span><br>` : null;
  return html`<tr class="${cls}" data-realization="${r.id}" data-type="${r.type}">
<td>${corrects}${badge(r.type)} <code>${r.id}</code>${annotations(r)}</td>
<td class="num">${formatMoney(r.amount, currency)}</td>
<td class="num">${remaining === null ? '' : formatMoney(remaining, currency)}</td>
<td><code>${r.transactionGroupId}</code></td>
<td>${formatTime(r.createdAt)}${r.deletedAt ? html`<br><span class="error-text">deleted ${formatTime(r.deletedAt)}</span>` : null}</td></tr>`;
}

function realizationsTable(run: RunJson, currency: string): Html {
  if (run.creditRealizations.length === 0) return html`<p class="muted">No credit realizations.</p>`;
  const rows = nestRealizations(run.creditRealizations).map((node: AllocationNode) => [
    realizationRow(node.realization, currency, node.remaining, false),
    node.corrections.map((c) => realizationRow(c, currency, null, true)),
  ]);
  return html`<table class="realizations"><thead><tr><th>Realization</th><th class="num">Amount</th><th class="num">Remaining</th>
<th>Transaction group</th><th>Created</th></tr></thead><tbody>${rows}</tbody></table>
<p class="small">Realized on this run: <b data-realized>${formatMoney(realizedOn(run), currency)}</b></p>`;
}

function detailedLines(run: RunJson, currency: string): Html | null {
  const lines = run.detailedLines;
  if (!lines || lines.length === 0) return null;
  const rows = lines.map(
    (l) => html`<tr><td><code>${l.childUniqueReferenceId}</code></td><td>${l.name}</td><td class="num">${l.quantity}</td>
<td class="num">${formatMoney(l.perUnitAmount, currency)}</td><td>${l.category} · ${words(l.paymentTerm)}</td><td class="num">${formatMoney(l.totals.total, currency)}</td></tr>`,
  );
  return html`<h4>Detailed lines</h4><table class="detailed-lines"><thead><tr><th>Child reference</th><th>Name</th><th class="num">Quantity</th>
<th class="num">Per unit</th><th>Category</th><th class="num">Total</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function usage(run: RunJson, currency: string): Html {
  const u = run.invoicedUsage;
  if (!u) return html`<h3>Invoiced usage</h3><p class="muted">None yet.</p>`;
  return html`<h3>Invoiced usage</h3>
<dl class="facts"><dt>Usage</dt><dd><code>${u.id}</code></dd><dt>Line / invoice</dt><dd><code>${run.lineId ?? '–'}</code> / <code>${run.invoiceId ?? '–'}</code></dd>
<dt>Service period</dt><dd>${formatPeriod(u.servicePeriod)}</dd><dt>Ledger transaction group</dt><dd><code>${u.ledgerTransactionGroupId ?? '–'}</code></dd></dl>
${totalsGrid(u.totals, currency, 'usage totals')}${detailedLines(run, currency)}`;
}

function payment(run: RunJson, currency: string): Html {
  const p = run.payment;
  if (!p) return html`<h3>Payment</h3><p class="muted">None yet.</p>`;
  return html`<h3>Payment</h3>
<dl class="facts payment"><dt>Status</dt><dd>${badge(p.status)} ${formatMoney(p.amount, currency)}</dd><dt>Payment</dt><dd><code>${p.id}</code></dd>
<dt>Authorized</dt><dd>${formatTime(p.authorizedAt)} · <code>${p.authorizedTransactionGroupId ?? '–'}</code></dd>
<dt>Settled</dt><dd>${formatTime(p.settledAt)} · <code>${p.settledTransactionGroupId ?? '–'}</code></dd></dl>`;
}

export function runBody(run: RunJson, currency: string): Html {
  return html`<dl class="facts"><dt>Run</dt><dd><code>${run.id}</code></dd><dt>Type</dt><dd>${words(run.type)}${
    run.initialType !== run.type ? html` <span class="muted">(was ${words(run.initialType)})</span>` : null
  }</dd>
<dt>Service period</dt><dd>${formatPeriod(run.servicePeriod)}</dd><dt>Amount after proration</dt><dd>${formatMoney(run.amountAfterProration, currency)}</dd>
<dt>No fiat transaction</dt><dd>${run.noFiatTransactionRequired ? 'yes (credits settle it)' : 'no'}</dd><dt>Created</dt><dd>${formatTime(run.createdAt)}</dd></dl>
${totalsGrid(run.totals, currency, 'run totals')}
<h3>Credit realizations</h3>${realizationsTable(run, currency)}${usage(run, currency)}${payment(run, currency)}`;
}
