import { formatMoney, formatPeriod, formatSpan, formatTime, words } from './format';
import { html, Html } from './html';
import { badge, page } from './layout';
import type { ChargeDocument, RunJson } from './load';
import { journalSection } from './render-journal';
import { runBody } from './render-run';
import { creditBreakdown, whyPrior } from './view';

// The charge page: the charge, its proration receipt, the current run, prior runs (collapsed) and
// the journal, top to bottom in the order an operator asks "why is its balance what it is?".

/** `$0.00 = $20.00 allocated − $20.00 corrected`: the balance with what makes it up, on the current run. */
function realizedText(current: RunJson | null, currency: string): Html {
  if (!current) return html`${formatMoney('0', currency)} <span class="muted small">(no current run)</span>`;
  const b = creditBreakdown(current);
  const parts = `${formatMoney(b.allocated, currency)} allocated − ${formatMoney(b.takenBack, currency)} corrected`;
  return html`<b>${formatMoney(b.realized, currency)}</b> <span class="muted small">${b.voided ? `(the current run is voided; its rows: ${parts})` : `= ${parts} (current run)`}</span>`;
}

function head(doc: ChargeDocument): Html {
  const c = doc.charge;
  const current = c.realizations?.currentRun ?? null;
  const customerHref = `/charges?namespace=${encodeURIComponent(c.namespace)}&customer=${encodeURIComponent(c.customerId)}`;
  const deleted = c.status === 'deleted' || c.deletedAt !== null;
  return html`${deleted ? html`<div class="banner deleted" role="alert">Deleted charge: deleted at ${formatTime(c.deletedAt)}. Its runs and journal are kept as history.</div>` : null}
<h1>${c.name} ${badge(c.status)}</h1>
<p class="muted"><code>${c.id}</code> in namespace <code>${c.namespace}</code>${c.description ? html` · ${c.description}` : null}</p>
<dl class="facts charge"><dt>Status</dt><dd data-status>${words(c.status)}${c.statusDetailed !== c.status ? ` (${words(c.statusDetailed)})` : ''}</dd>
<dt>Customer</dt><dd><a href="${customerHref}">${c.customerId}</a></dd>
<dt>Settlement mode</dt><dd>${words(c.settlementMode)}</dd><dt>Payment term</dt><dd>${words(c.paymentTerm)}</dd>
<dt>Amount before proration</dt><dd>${formatMoney(c.amountBeforeProration, c.currency)}</dd>
<dt>Amount after proration</dt><dd><b>${formatMoney(c.amountAfterProration, c.currency)}</b></dd>
<dt>Realized credits</dt><dd data-realized-credits>${realizedText(current, c.currency)}</dd>
<dt>Pro-rating</dt><dd>${words(c.proRating)}</dd>
<dt>Service period</dt><dd>${formatPeriod(c.servicePeriod)}</dd><dt>Full service period</dt><dd>${formatPeriod(c.fullServicePeriod)}</dd>
<dt>Billing period</dt><dd>${formatPeriod(c.billingPeriod)}</dd><dt>Invoice at</dt><dd>${formatTime(c.invoiceAt)}</dd>
<dt>Unique reference</dt><dd><code>${c.uniqueReferenceId ?? '–'}</code></dd><dt>Feature key</dt><dd><code>${c.featureKey ?? '–'}</code></dd>
<dt>Created</dt><dd>${formatTime(c.createdAt)}</dd><dt>Updated</dt><dd>${formatTime(c.updatedAt)}</dd></dl>
${c.metadata ? html`<h3>Metadata</h3><pre class="metadata">${JSON.stringify(c.metadata, null, 2)}</pre>` : null}`;
}

function receipt(doc: ChargeDocument): Html {
  const e = doc.proration;
  const r = e.stored ?? e.recomputed;
  const verdict = e.matches
    ? html`<p class="small">Recomputed with the current code: <b>matches</b>.</p>`
    : html`<div class="banner warn">Recomputed amount differs in: ${e.differences.map((d) => `${d.field} (stored ${d.stored}, recomputed ${d.recomputed})`).join('; ')}</div>`;
  return html`<h2>Proration receipt</h2>
${e.receiptStored ? null : html`<p class="muted">No stored receipt (the charge predates receipts): inputs read from the charge.</p>`}
<dl class="facts receipt"><dt>Amount before proration</dt><dd>${formatMoney(r.amountBeforeProration, r.currency)}</dd>
<dt>Pro-rating</dt><dd>${r.proRating.enabled ? 'enabled' : 'disabled'} (${words(r.proRating.mode)})</dd>
<dt>Service period</dt><dd>${formatSpan(r.servicePeriodMs)}</dd><dt>Full service period</dt><dd>${formatSpan(r.fullServicePeriodMs)}</dd>
<dt>Ratio (exact)</dt><dd><code data-ratio>${r.ratio}</code>${r.notProratedBecause ? html` <span class="muted">not prorated: ${words(r.notProratedBecause)}</span>` : null}</dd>
<dt>Unrounded amount</dt><dd>${formatMoney(r.unroundedAmount, r.currency)}</dd>
<dt>Rounded (${words(r.roundingMode)}, ${r.currencyPrecision} decimals)</dt><dd>${formatMoney(r.roundedAmount, r.currency)}</dd>
<dt>Rounding delta</dt><dd data-rounding-delta>${formatMoney(r.roundingDelta, r.currency)}</dd></dl>${verdict}`;
}

function runs(doc: ChargeDocument): Html {
  const c = doc.charge;
  const current = c.realizations?.currentRun ?? null;
  const prior = c.realizations?.priorRuns ?? [];
  const currentHtml = current
    ? html`<section class="current-run">${runBody(current, c.currency)}</section>`
    : html`<p class="muted">No current run${c.settlementMode === 'credit_only' && c.status === 'created' ? ' (a credit-only charge gets one when it is activated)' : ''}.</p>`;
  const priorHtml = prior.map(
    (run) => html`<details class="prior" data-run="${run.id}"><summary>Prior run <code>${run.id}</code> · ${formatPeriod(run.servicePeriod)} · total ${formatMoney(run.totals.total, c.currency)}
<br><span class="small muted why-prior">${whyPrior(run, doc)}</span></summary>${runBody(run, c.currency)}</details>`,
  );
  return html`<h2>Current run</h2>${currentHtml}<h2>Prior runs <span class="muted small">(${prior.length})</span></h2>${
    prior.length ? priorHtml : html`<p class="muted">None.</p>`
  }`;
}

export function renderChargePage(doc: ChargeDocument): string {
  return page(`Charge ${doc.charge.id}`, [head(doc), receipt(doc), runs(doc), journalSection(doc.history.entries, doc.charge.currency)]);
}
