import * as yup from 'yup';
import { AuthorizeOutcome, authorizePayment, Payment, PaymentEvent, SettleOutcome, settlePayment } from '../src/domain/payment';
import { parseInstant } from '../src/domain/time';
import { Charge } from '../src/domain/charge';
import type { TableChanges } from '../src/domain/journal';
import { InvoicedUsage } from '../src/domain/invoiced-usage';
import { Run } from '../src/domain/run';
import { totalsToJson } from '../src/domain/totals';
import { chargeStatusUpdate, lockChargesWithRuns, lockedOf } from '../src/db/batch-charges';
import { paymentsInsert, paymentsOf, paymentsOfCurrentRuns, paymentsSettle, usagesOf, usagesOfCurrentRuns } from '../src/db/batch-payment';
import { T } from '../src/db/tables';
import { fastUlid } from '../src/domain/ids';
import { ChargeStates, chargeWithRun, decideEach, FreshApplied, JobKind, JobResult, uniqueCharges } from '../src/domain/decision';
import { idempotencyKey, instant, strictObject, text, ulid } from '../src/validation';

export const name = 'payment';

export const PAYMENT_ACTIONS = ['authorize', 'settle'] as const;

export const schema = strictObject({
  namespace: text().required(),
  chargeId: ulid().required(),
  action: yup.string().oneOf(PAYMENT_ACTIONS).required(),
  lineId: ulid().required(),
  invoiceId: ulid().required(),
  transactionGroupId: text().required(),
  at: instant().optional(),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

/** The payment event a job describes: its line, invoice and transaction group, at `at` or now. */
export function eventOf(p: Payload, now: Date): PaymentEvent {
  return { lineId: p.lineId, invoiceId: p.invoiceId, transactionGroupId: p.transactionGroupId, at: p.at ? parseInstant(p.at) : now };
}

type Base = { chargeId: string; runId: string; action: Payload['action'] };

export function authorizeResult(base: Base, outcome: AuthorizeOutcome) {
  return outcome.kind === 'skipped'
    ? Object.assign({}, base, { skipped: true, paymentId: null, status: null })
    : Object.assign({}, base, { skipped: false, paymentId: outcome.payment.id, status: 'authorized', amount: outcome.payment.amount.toFixed() });
}

/** A settlement always leaves the charge final, whether or not there was a payment to settle. */
export function settleResult(base: Base, outcome: SettleOutcome) {
  return outcome.kind === 'skipped'
    ? Object.assign({}, base, { skipped: true, paymentId: null, status: null, chargeStatus: 'final' })
    : Object.assign({}, base, { skipped: false, paymentId: outcome.payment.id, status: 'settled', chargeStatus: 'final' });
}

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

/**
 * Authorize records the payment of the invoiced total; settle closes it and finalizes the charge.
 * The pure rules throw before the state changes.
 */
function applyToState(state: ChargeState, p: Payload): { result: JobResult; changes: TableChanges } {
  const now = new Date();
  const { charge, run } = state;
  const event = eventOf(p, now);
  const base = { chargeId: charge.id, runId: run.id, action: p.action };

  if (p.action === 'authorize') {
    const outcome = authorizePayment(run, state.usage, state.payment, event, fastUlid());
    if (outcome.kind === 'skipped') return { result: authorizeResult(base, outcome), changes: {} };
    state.payment = outcome.payment;
    state.paymentIsNew = true;
    return { result: authorizeResult(base, outcome), changes: { [T.payments]: { inserted: 1 } } };
  }

  const outcome = settlePayment(run, state.usage, state.payment, event);
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
  return { result: settleResult(base, outcome), changes };
}

/** Locks every charge with its run and reads the runs' usages and payments (sent with the key claim). */
export function reads(payloads: Payload[]) {
  const charges = uniqueCharges(payloads);
  return [...lockChargesWithRuns(charges), usagesOfCurrentRuns(charges), paymentsOfCurrentRuns(charges)];
}

/** Decides every job in arrival order; writes new payments, settled payments and final charges. Payments do not move run totals. */
export const decide: JobKind<Payload>['decide'] = ([lockedRows, runRows, usageRows, paymentRows], fresh) => {
  const usages = usagesOf(usageRows);
  const payments = paymentsOf(paymentRows);
  const states = new ChargeStates(lockedOf(lockedRows, runRows), chargeWithRun, ({ charge, run }): ChargeState => ({
    charge, run, usage: usages.get(run.id) ?? null, payment: payments.get(run.id) ?? null, paymentIsNew: false, settledExisting: false, finalizedAt: null,
  }));
  const decided = decideEach(fresh, (p): FreshApplied => {
    const state = states.of(p);
    const { result, changes } = applyToState(state, p);
    const totals = totalsToJson(state.run.totals);
    return { result, runId: state.run.id, changes, totalsBefore: totals, totalsAfter: totals };
  });
  const all = states.values();
  const writes = [
    paymentsInsert(all.filter((s) => s.paymentIsNew).map((s) => s.payment!)),
    paymentsSettle(all.filter((s) => s.settledExisting).map((s) => s.payment!)),
    chargeStatusUpdate(all.filter((s) => s.finalizedAt !== null).map((s) => ({ charge: s.charge, status: 'final' as const, now: s.finalizedAt! }))),
  ];
  return { decided, writes };
};
