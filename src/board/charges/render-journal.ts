import type { History } from '../../cli/history';
import { describeChanges } from '../../domain/journal';
import { formatMoney, formatTime } from './format';
import { html, Html } from './html';
import { badge, jobHref } from './layout';

// The journal as a timeline: every delivery that named the charge, oldest first, each linking to its
// job in Bull Board. Also shown for an id with no charge, where it tells why the charge never came to be.

type Entry = History['entries'][number];

/** Amounts in the charge's currency; without a charge (its currency unknown) as plain decimals. */
function amount(value: string, currency: string | null): string {
  return currency ? formatMoney(value, currency) : value;
}

function moves(e: Entry, currency: string | null): Html | string {
  if (e.moved.length === 0) return '–';
  return html`${e.moved.map((m, i) => html`${i > 0 ? html`<br>` : null}${m.key} ${amount(m.from, currency)} → ${amount(m.to, currency)}`)}`;
}

function journalRow(e: Entry, currency: string | null): Html {
  const job = e.jobId ? html`<a class="job" href="${jobHref(e.queue, e.jobId)}">${e.jobId}</a>` : html`<span class="muted">–</span>`;
  const error = e.errorCode ? html`<code class="error-text">${e.errorCode}</code><br><span class="small muted">${e.errorMessage ?? ''}</span>` : '–';
  return html`<tr data-entry="${e.id}" data-outcome="${e.outcome}"><td class="mono nowrap">${formatTime(e.finishedAt)}</td><td class="nowrap">${e.queue}</td><td>${job}</td>
<td class="num">${e.attempt ?? '–'}</td><td>${badge(e.outcome)}</td><td class="error">${error}</td>
<td class="small">${e.outcome === 'applied' ? describeChanges(e.changes) : '–'}</td><td class="small nowrap">${moves(e, currency)}</td></tr>`;
}

export function journalSection(entries: Entry[], currency: string | null): Html {
  if (entries.length === 0) return html`<h2>Journal</h2><p class="muted">No journal entries (the charge predates the journal).</p>`;
  return html`<h2>Journal <span class="muted small">(${entries.length} deliveries, oldest first)</span></h2>
<table class="journal"><thead><tr><th>Finished</th><th>Queue</th><th>Job</th><th class="num">Attempt</th><th>Outcome</th><th>Error</th><th>Rows changed</th><th>Totals moved</th></tr></thead>
<tbody>${entries.map((e) => journalRow(e, currency))}</tbody></table>`;
}
