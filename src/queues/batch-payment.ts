import * as paymentJob from '../../jobs/payment';
import { Charge } from '../domain/charge';
import type { TableChanges } from '../domain/journal';
import { authorizePayment, Payment, settlePayment } from '../domain/payment';
import { InvoicedUsage } from '../domain/invoiced-usage';
import { Run } from '../domain/run';
import { totalsToJson } from '../domain/totals';
import { chargeStatusUpdate, lockChargesWithRuns, lockedOf } from '../db/batch-charges';
import { paymentsInsert, paymentsOf, paymentsOfCurrentRuns, paymentsSettle, usagesOf, usagesOfCurrentRuns } from '../db/batch-payment';
import { T } from '../db/tables';
import { fastUlid } from './ids';
import { JobResult } from './job-context';
import { chargeStates, chargeWithRun, FreshApplied, parseOrFallBack, ruleOrFallBack, SetBasedKind, uniqueCharges } from './set-based';

/** One charge while the batch's payment jobs are applied to it in memory, in order. */
interface ChargeState {
  charge: Charge;
  run: Run;
  usage: InvoicedUsage | null;
  /** The run's payment as the jobs so far left it. */
  payment: Payment | null;
  /** The payment was authorized in this batch: it is inserted as it ends up, settled or not. */
  paymentIsNew: boolean;
  /** A payment that existed before the batch was settled in it. */
  settledExisting: boolean;
  finalizedAt: Date | null;
}

/** One job applied to its charge's in-memory state with the rules the per-job handler uses. */
function applyToState(state: ChargeState, p: paymentJob.Payload): { result: JobResult; changes: TableChanges } {
  const now = new Date();
  const { charge, run } = state;
  const event = paymentJob.eventOf(p, now);
  const base = { chargeId: charge.id, runId: run.id, action: p.action };

  if (p.action === 'authorize') {
    const outcome = ruleOrFallBack(charge.id, () => authorizePayment(run, state.usage, state.payment, event, fastUlid()));
    if (outcome.kind === 'skipped') return { result: paymentJob.authorizeResult(base, outcome), changes: {} };
    state.payment = outcome.payment;
    state.paymentIsNew = true;
    return { result: paymentJob.authorizeResult(base, outcome), changes: { [T.payments]: { inserted: 1 } } };
  }

  const outcome = ruleOrFallBack(charge.id, () => settlePayment(run, state.usage, state.payment, event));
  const changes: TableChanges = {};
  if (outcome.kind === 'settled') {
    state.payment = outcome.payment;
    if (!state.paymentIsNew) state.settledExisting = true;
    changes[T.payments] = { updated: 1 };
  }
  if (charge.status !== 'final' && state.finalizedAt === null) {
    state.finalizedAt = now;
    changes[T.charges] = { updated: 1 };
  }
  return { result: paymentJob.settleResult(base, outcome), changes };
}

/**
 * payment (authorize, settle) with set-based statements: lock every charge with its run and read
 * the runs' usages and payments (three statements, sent with the key claim), decide every job in
 * memory in arrival order, and return the writes (new payments, settled payments, final charges)
 * for the batch's single write statement. Payments do not move run totals: before equals after.
 */
export const paymentInBatch: SetBasedKind<paymentJob.Payload> = {
  parse: (data) => parseOrFallBack(paymentJob.schema, data),
  reads(payloads) {
    const charges = uniqueCharges(payloads);
    return [lockChargesWithRuns(charges), usagesOfCurrentRuns(charges), paymentsOfCurrentRuns(charges)];
  },
  decide([lockedRows, usageRows, paymentRows], fresh) {
    const locked = lockedOf(lockedRows);
    const usages = usagesOf(usageRows);
    const payments = paymentsOf(paymentRows);
    const states = chargeStates(fresh, locked, chargeWithRun, ({ charge, run }): ChargeState => ({
      charge, run, usage: usages.get(run.id) ?? null, payment: payments.get(run.id) ?? null, paymentIsNew: false, settledExisting: false, finalizedAt: null,
    }));
    const applied = fresh.map((p): FreshApplied => {
      const state = states.get(p.chargeId)!;
      const { result, changes } = applyToState(state, p);
      const totals = totalsToJson(state.run.totals);
      return { result, runId: state.run.id, changes, totalsBefore: totals, totalsAfter: totals };
    });
    const all = [...states.values()];
    const writes = [
      paymentsInsert(all.filter((s) => s.paymentIsNew).map((s) => s.payment!)),
      paymentsSettle(all.filter((s) => s.settledExisting).map((s) => s.payment!)),
      chargeStatusUpdate(all.filter((s) => s.finalizedAt !== null).map((s) => ({ charge: s.charge, status: 'final' as const, now: s.finalizedAt! }))),
    ];
    return { applied, writes };
  },
};
