import Decimal from 'decimal.js';
import { ulid } from 'ulid';
import { chargePayload } from './fixtures';
import { PlannedJob, seeded } from './flow';
import { creditOnlyTotals, Ledger, LedgerCharge, norm, realizationKey, totalsRow, zeroTotals } from './ledger-model';

// A mixed workload whose final ledger does not depend on the order jobs run in, so a test can kill
// workers anywhere and still know the one right answer. Phase 1 creates every charge; phase 2 runs
// the realizations, whose preconditions (run, usage, authorization) are met by retries whatever the
// order; phase 3 deletes some charges once their credits are in.

export type Flow = 'credit_then_invoice' | 'invoice_paid' | 'credit_only' | 'deleted';
const FLOWS: Flow[] = ['credit_then_invoice', 'invoice_paid', 'credit_only', 'deleted'];

export interface Scenario {
  namespace: string;
  phases: PlannedJob[][];
  expected: Ledger;
  /** amount_after_proration per charge id. */
  amounts: Record<string, string>;
}

const cents = (random: () => number, max: number) => new Decimal(Math.floor(random() * max * 100) + 1).div(100).toFixed();

function usageTotals(random: () => number) {
  const amount = new Decimal(cents(random, 500));
  const taxes = amount.mul('0.1').toDecimalPlaces(2).toFixed();
  const total = amount.plus(taxes).toFixed();
  return {
    amount: amount.toFixed(),
    chargesTotal: amount.toFixed(),
    discountsTotal: '0',
    taxesInclusiveTotal: '0',
    taxesExclusiveTotal: taxes,
    taxesTotal: taxes,
    creditsTotal: '0',
    total,
  };
}

class Builder {
  readonly phases: PlannedJob[][] = [[], [], []];
  readonly expected: Ledger = {};
  readonly amounts: Record<string, string> = {};
  private seq = 0;

  constructor(readonly namespace: string, readonly random: () => number, readonly opts: PlannedJob['opts']) {}

  job(phase: number, queue: PlannedJob['queue'], data: Record<string, unknown>): void {
    this.phases[phase].push({ queue, data: { namespace: this.namespace, ...data }, jobId: `j${++this.seq}-${queue}`, opts: this.opts });
  }

  charge(settlementMode: string, amount: string): { id: string; entry: LedgerCharge } {
    const p = chargePayload({ namespace: this.namespace, settlementMode, amountBeforeProration: amount, customerId: `cust-${this.seq % 7}` });
    this.job(0, 'create-charge', p);
    const entry: LedgerCharge = { status: 'active', deleted: false, runs: 1, runTotals: zeroTotals(), realizations: [], usage: null, payment: null };
    this.expected[p.id] = entry;
    this.amounts[p.id] = amount;
    return { id: p.id, entry };
  }

  allocations(chargeId: string, entry: LedgerCharge, count: number): string[] {
    const amounts: string[] = [];
    for (let i = 0; i < count; i++) {
      const amount = cents(this.random, 40);
      const tg = `tg-${chargeId}-${i}`;
      this.job(1, 'allocate-credit', { chargeId, realizations: [{ type: 'allocation', amount, transactionGroupId: tg }] });
      entry.realizations.push(realizationKey(tg, 'allocation', amount));
      amounts.push(amount);
    }
    return amounts;
  }

  usage(chargeId: string, entry: LedgerCharge): { lineId: string; invoiceId: string; total: string } {
    const totals = usageTotals(this.random);
    const lineId = ulid();
    const invoiceId = ulid();
    const period = { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' };
    this.job(1, 'create-invoiced-usage', { chargeId, lineId, invoiceId, servicePeriod: period, totals });
    entry.usage = totalsRow(totals);
    entry.runTotals = totalsRow(totals);
    return { lineId, invoiceId, total: totals.total };
  }

  add(flow: Flow): void {
    if (flow === 'credit_then_invoice') {
      const { id, entry } = this.charge('credit_then_invoice', '1000');
      this.allocations(id, entry, 1 + Math.floor(this.random() * 4));
      this.usage(id, entry);
    } else if (flow === 'invoice_paid') {
      const { id, entry } = this.charge('invoice_only', '250');
      const { lineId, invoiceId, total } = this.usage(id, entry);
      for (const action of ['authorize', 'settle']) {
        this.job(1, 'payment', { chargeId: id, action, lineId, invoiceId, transactionGroupId: `pay-${action}-${id}` });
      }
      entry.status = 'final';
      entry.payment = { status: 'settled', amount: norm(total) };
    } else if (flow === 'credit_only') {
      const amount = cents(this.random, 300);
      const { id, entry } = this.charge('credit_only', amount);
      this.job(1, 'activate-charge', { chargeId: id, at: '2026-01-02T00:00:00Z' });
      const half = new Decimal(amount).div(2).toDecimalPlaces(2, Decimal.ROUND_DOWN);
      const parts = half.gt(0) ? [half.toFixed(), new Decimal(amount).minus(half).toFixed()] : [amount];
      const realizations = parts.map((a, i) => ({ type: 'allocation', amount: a, transactionGroupId: `co-${id}-${i}` }));
      this.job(1, 'allocate-credit', { chargeId: id, realizations });
      entry.realizations.push(...realizations.map((r) => realizationKey(r.transactionGroupId, r.type, r.amount)));
      entry.status = 'final';
      entry.runTotals = creditOnlyTotals(amount);
    } else {
      const { id, entry } = this.charge('credit_then_invoice', '500');
      const allocated = this.allocations(id, entry, 1 + Math.floor(this.random() * 3));
      this.job(2, 'delete-charge', { chargeId: id, transactionGroupId: `del-${id}`, at: '2026-03-01T00:00:00Z' });
      entry.realizations.push(...allocated.map((a) => realizationKey(`del-${id}`, 'correction', new Decimal(a).neg().toFixed())));
      entry.status = 'deleted';
      entry.deleted = true;
    }
  }
}

/** `charges` charges, flows in turn; every realization list sorted as readLedger sorts it. */
export function buildScenario(namespace: string, charges: number, random: () => number, opts: PlannedJob['opts']): Scenario {
  const b = new Builder(namespace, random, opts);
  for (let i = 0; i < charges; i++) b.add(FLOWS[i % FLOWS.length]);
  for (const entry of Object.values(b.expected)) entry.realizations.sort();
  return { namespace, phases: b.phases, expected: b.expected, amounts: b.amounts };
}

/**
 * The smallest scenario with at least `jobs` jobs. The random stream is consumed charge by charge, so
 * a larger scenario extends a smaller one and a binary search over the charge count finds it.
 */
export function buildScenarioOfJobs(namespace: string, jobs: number, seed: number, opts: PlannedJob['opts']): Scenario {
  const sized = (charges: number) => buildScenario(namespace, charges, seeded(seed), opts);
  let [low, high] = [1, jobs];
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (sized(mid).phases.flat().length >= jobs) high = mid;
    else low = mid + 1;
  }
  return sized(low);
}
