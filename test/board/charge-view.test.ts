import { expect } from 'chai';
import { formatMoney, formatTime } from '../../src/board/charges/format';
import { html } from '../../src/board/charges/html';
import type { ChargeDocument, RunJson } from '../../src/board/charges/load';
import { creditBreakdown, nestRealizations, RealizationJson, realizedOn, whyPrior } from '../../src/board/charges/view';

// The explorer's pure parts: amounts as text, escaping, nesting and the reasons a run is prior.

function realization(id: string, type: 'allocation' | 'correction', amount: string, extra: Partial<RealizationJson> = {}): RealizationJson {
  return { id, type, amount, correctsRealizationId: null, deletedAt: null, annotations: null, sortHint: 0, transactionGroupId: 'tg', createdAt: '2026-01-01T00:00:00.000Z', ...extra } as RealizationJson;
}

function run(id: string, extra: Partial<RunJson> = {}): RunJson {
  return { id, type: 'final_realization', deletedAt: null, creditRealizations: [], ...extra } as RunJson;
}

function doc(currentRunId: string, entries: Array<{ queue: string; jobId: string; runId: string | null; outcome?: string }>): ChargeDocument {
  return {
    charge: { currentRealizationRunId: currentRunId },
    history: { entries: entries.map((e) => ({ outcome: 'applied', finishedAt: '2026-01-10T00:00:00.000Z', ...e })) },
  } as unknown as ChargeDocument;
}

describe('charge explorer views: money, escaping, nesting, prior runs', () => {
  it('formats decimal strings in their currency without rounding them', () => {
    expect(formatMoney('1234.5', 'USD')).to.equal('$1,234.50');
    expect(formatMoney('1200', 'JPY')).to.equal('¥1,200');
    expect(formatMoney('1.2345', 'BHD')).to.equal('BHD\u00a01.2345');
    expect(formatMoney('-20', 'EUR')).to.equal('-€20.00');
    expect(formatMoney('12345678901234567890.1', 'USD')).to.equal('$12,345,678,901,234,567,890.10');
    expect(formatMoney('0.00290322580645161290322580645161290323', 'USD')).to.equal('$0.00290322580645161290322580645161290323');
    expect(formatMoney('7.5', 'XYZ')).to.equal('7.5 XYZ');
    expect(formatTime('2026-01-20T00:00:00.000Z')).to.equal('2026-01-20 00:00:00 UTC');
  });

  it('escapes every interpolated string and keeps markup built by the tag', () => {
    const name = `<img src=x onerror="alert('x')">&`;
    expect(html`<td title="${name}">${name}${html`<b>ok</b>`}${[null, false, 'a<b']}</td>`.text).to.equal(
      '<td title="&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;">&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;<b>ok</b>a&lt;b</td>',
    );
  });

  it('nests corrections under the allocation they correct, with what remains of it', () => {
    const nodes = nestRealizations([
      realization('A1', 'allocation', '30'),
      realization('A2', 'allocation', '50'),
      realization('C1', 'correction', '-10', { correctsRealizationId: 'A1' }),
      realization('C2', 'correction', '-5', { correctsRealizationId: 'A1', deletedAt: '2026-01-02T00:00:00.000Z' }),
      realization('C3', 'correction', '-1', { correctsRealizationId: 'LEGACY' }),
    ]);
    expect(nodes.map((n) => [n.realization.id, n.remaining, n.corrections.map((c) => c.id)])).to.deep.equal([
      ['A1', '20', ['C1', 'C2']],
      ['A2', '50', []],
      ['C3', null, []],
    ]);
    const all = nodes.flatMap((n) => [n.realization, ...n.corrections]);
    expect(realizedOn(run('R', { creditRealizations: all }))).to.equal('69');
    expect(creditBreakdown(run('R', { creditRealizations: all }))).to.deep.equal({ allocated: '80', takenBack: '11', realized: '69', voided: false });
    expect(creditBreakdown(run('R', { deletedAt: '2026-01-03T00:00:00.000Z', creditRealizations: all }))).to.deep.equal({ allocated: '80', takenBack: '11', realized: '0', voided: true });
    expect(realizedOn(run('R', { type: 'invalid_due_to_unsupported_credit_note', creditRealizations: [realization('A', 'allocation', '5')] }))).to.equal('0');
  });

  it('says why a run is prior: replaced through a job, voided, or switched before the journal', () => {
    const entries = [
      { queue: 'create-charge', jobId: '1', runId: 'R1' },
      { queue: 'allocate-credit', jobId: '2', runId: 'R1', outcome: 'rejected' },
      { queue: 'reprorate-charge', jobId: '7', runId: 'R2', runChange: { previousRunId: 'R1', releasedCredits: '80' } },
    ];
    expect(whyPrior(run('R1'), doc('R2', entries))).to.equal('replaced by run R2 through reprorate-charge job 7 at 2026-01-10T00:00:00.000Z, releasing 80 of credits');
    expect(whyPrior(run('R0', { type: 'invalid_due_to_unsupported_credit_note' }), doc('R2', entries))).to.equal('voided: invalidated by an unsupported credit note');
    expect(whyPrior(run('R0'), doc('R2', entries))).to.equal('the charge points at run R2; the journal has no entry for the switch (it predates the journal)');
  });
});
