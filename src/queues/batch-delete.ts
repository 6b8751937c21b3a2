import * as deleteJob from '../../jobs/delete-charge';
import { Charge } from '../domain/charge';
import { CreditRealization } from '../domain/credit';
import type { TableChanges } from '../domain/journal';
import { Run } from '../domain/run';
import { totalsToJson } from '../domain/totals';
import { realizationsInsert, realizationsOf, realizationsOfCurrentRuns, runTotalsUpdate } from '../db/batch-allocate';
import { chargeDeletionUpdate, lockChargesWithRuns, lockedOf } from '../db/batch-charges';
import { T } from '../db/tables';
import { fastUlid } from './ids';
import { BatchFallback, chargeForJob, chargeStates, FreshApplied, parseOrFallBack, SetBasedKind, uniqueCharges } from './set-based';

interface DeletionState {
  charge: Charge;
  run: Run | null;
  realizations: CreditRealization[];
  deleted: boolean;
}

/**
 * delete-charge with set-based statements: lock every charge with its run and read the runs'
 * realizations (sent with the key claim), decide each deletion in memory with the handler's own
 * deletionOf, and write corrections, run totals and deletions in the batch's single write statement.
 * A charge already deleted (before the batch or by an earlier job of it) goes to savepoints, where
 * the handler answers with the stored result of the first deletion.
 */
export const deleteInBatch: SetBasedKind<deleteJob.Payload> = {
  parse: (data) => parseOrFallBack(deleteJob.schema, data),
  reads(payloads) {
    const charges = uniqueCharges(payloads);
    return [lockChargesWithRuns(charges), realizationsOfCurrentRuns(charges)];
  },
  decide([locked, realizationRows], fresh, keys) {
    const realizations = realizationsOf(realizationRows);
    const states = chargeStates(fresh, lockedOf(locked), chargeForJob, ({ charge, run }): DeletionState => ({ charge, run, realizations: run ? realizations.get(run.id) ?? [] : [], deleted: false }));
    const corrections: CreditRealization[] = [];
    const runTotals: Parameters<typeof runTotalsUpdate>[0] = [];
    const deletions: Parameters<typeof chargeDeletionUpdate>[0] = [];
    const applied = fresh.map((p, i): FreshApplied => {
      const state = states.get(p.chargeId)!;
      if (state.deleted) throw new BatchFallback(`charge ${p.chargeId} is deleted twice in one batch`);
      state.deleted = true;
      const { charge, run } = state;
      const now = new Date();
      const deletion = deleteJob.deletionOf(p, charge, run, state.realizations, { idempotencyKey: keys[i], newId: () => fastUlid(now.getTime()), now });
      corrections.push(...deletion.corrections);
      if (run && deletion.runTotals) runTotals.push({ run, totals: deletion.runTotals, now });
      deletions.push({ charge, now, deletedAt: deletion.deletedAt });
      // What the per-job handler writes: the charge's deletion, its corrections, a credit_only run's totals.
      const changes: TableChanges = { [T.charges]: { updated: 1 } };
      if (deletion.corrections.length > 0) changes[T.realizations] = { inserted: deletion.corrections.length };
      if (deletion.runTotals) changes[T.runs] = { updated: 1 };
      const totalsBefore = run ? totalsToJson(run.totals) : null;
      const totalsAfter = run ? totalsToJson(deletion.runTotals ?? run.totals) : null;
      return { result: deletion.result, runId: run?.id ?? null, changes, totalsBefore, totalsAfter };
    });
    return { applied, writes: [realizationsInsert(corrections), runTotalsUpdate(runTotals), chargeDeletionUpdate(deletions)] };
  },
};
