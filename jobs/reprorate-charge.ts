import * as yup from 'yup';
import { Charge } from '../src/domain/charge';
import { CreditRealization } from '../src/domain/credit';
import { InvoicedUsage } from '../src/domain/invoiced-usage';
import type { TableChanges } from '../src/domain/journal';
import { money } from '../src/domain/money';
import { Payment } from '../src/domain/payment';
import { reprorate } from '../src/domain/reproration';
import { Run } from '../src/domain/run';
import { parseInstant } from '../src/domain/time';
import { totalsToJson } from '../src/domain/totals';
import { realizationsOf, realizationsOfCurrentRuns } from '../src/db/batch-allocate';
import { lockChargesWithRuns, lockedOf } from '../src/db/batch-charges';
import { paymentsOf, paymentsOfCurrentRuns, usagesOf, usagesOfCurrentRuns } from '../src/db/batch-payment';
import { chargesReprorate, receiptsInsert, runsInsert } from '../src/db/batch-provision';
import { StoredReceipt } from '../src/db/receipts';
import { T } from '../src/db/tables';
import { fastUlid } from '../src/domain/ids';
import { chargeForJob, ChargeStates, decideEach, FreshApplied, JobKind, uniqueCharges } from '../src/domain/decision';
import { idempotencyKey, instant, nonNegativeAmount, period, strictObject, text, ulid } from '../src/validation';

export const name = 'reprorate-charge';

export const schema = strictObject({
  namespace: text().required(),
  chargeId: ulid().required(),
  servicePeriod: period().required(),
  amountBeforeProration: nonNegativeAmount().optional(),
  at: instant().optional(),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

/** One charge while the batch's re-prorations are applied to it in memory, in order. */
interface ChargeState {
  charge: Charge;
  run: Run | null;
  realizations: CreditRealization[];
  usage: InvoicedUsage | null;
  payment: Payment | null;
  changed: boolean;
}

/** Locks every charge with its run; reads what the current runs realized and whether they are invoiced. */
export function reads(payloads: Payload[]) {
  const charges = uniqueCharges(payloads);
  return [...lockChargesWithRuns(charges), realizationsOfCurrentRuns(charges), usagesOfCurrentRuns(charges), paymentsOfCurrentRuns(charges)];
}

/**
 * Decides each re-proration in arrival order: the charge takes its new period and amounts and, when
 * it has a current run, a new one (the old run stays as it is, a prior run now); writes the new
 * runs, the charges and a receipt per re-proration. A second re-proration in one batch starts from
 * the first one's new run.
 */
export const decide: JobKind<Payload>['decide'] = ([lockedRows, runRows, realizationRows, usageRows, paymentRows], fresh) => {
  const realizations = realizationsOf(realizationRows);
  const usages = usagesOf(usageRows);
  const payments = paymentsOf(paymentRows);
  const states = new ChargeStates(lockedOf(lockedRows, runRows), chargeForJob, ({ charge, run }): ChargeState => ({
    charge,
    run,
    realizations: run ? realizations.get(run.id) ?? [] : [],
    usage: run ? usages.get(run.id) ?? null : null,
    payment: run ? payments.get(run.id) ?? null : null,
    changed: false,
  }));
  const newRuns: Run[] = [];
  const receipts: StoredReceipt[] = [];
  const decided = decideEach(fresh, (p): FreshApplied => {
    const state = states.of(p);
    const { charge, run } = state;
    const now = p.at ? parseInstant(p.at) : new Date();
    const servicePeriod = { from: parseInstant(p.servicePeriod.from), to: parseInstant(p.servicePeriod.to) };
    const amountBeforeProration = p.amountBeforeProration === undefined ? undefined : money(p.amountBeforeProration);
    const outcome = reprorate({ ...state, servicePeriod, amountBeforeProration, newRunId: fastUlid(now.getTime()), now });
    const totals = run ? totalsToJson(run.totals) : null;
    const base = { chargeId: charge.id, previousRunId: run?.id ?? null };
    if (outcome.kind === 'unchanged') {
      const result = { ...base, currentRunId: run?.id ?? null, amountAfterProration: charge.amountAfterProration.toFixed(), releasedCredits: '0', unchanged: true };
      return { result, runId: run?.id ?? null, changes: {}, totalsBefore: totals, totalsAfter: totals };
    }
    const { newRun } = outcome;
    const releasedCredits = outcome.releasedCredits.toFixed();
    receipts.push({ ...outcome.proration.receipt, id: fastUlid(now.getTime()), chargeId: charge.id, runId: newRun?.id ?? null, namespace: charge.namespace, createdAt: now });
    if (newRun) newRuns.push(newRun);
    // The next job of this batch on the charge sees the new run, which has realized and invoiced nothing yet.
    state.charge = outcome.charge;
    state.changed = true;
    if (newRun) Object.assign(state, { run: newRun, realizations: [], usage: null, payment: null });
    const changes: TableChanges = { [T.charges]: { updated: 1 }, [T.receipts]: { inserted: 1 } };
    if (newRun) changes[T.runs] = { inserted: 1 };
    const currentRunId = newRun?.id ?? run?.id ?? null;
    const result = { ...base, currentRunId, amountAfterProration: outcome.charge.amountAfterProration.toFixed(), releasedCredits };
    return {
      result,
      runId: currentRunId,
      changes,
      totalsBefore: totals,
      totalsAfter: newRun ? totalsToJson(newRun.totals) : totals,
      ...(newRun ? { runChange: { previousRunId: run?.id ?? null, releasedCredits } } : {}),
    };
  });
  const changed = states.values().filter((s) => s.changed).map((s) => s.charge);
  return { decided, writes: [runsInsert(newRuns), chargesReprorate(changed), receiptsInsert(receipts)] };
};
