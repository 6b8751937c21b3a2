import Decimal from 'decimal.js';
import { Knex } from 'knex';
import { explainCharge, Explanation } from '../../cli/explain';
import { History, loadHistory } from '../../cli/history';
import { chargeJson, toPlainJson } from '../../cli/render';
import { ChargeView, getCharge } from '../../db/read-charge';

/** What JSON.stringify makes of a reader's value: Decimals and Dates become strings (toPlainJson). */
export type Plain<T> = T extends Decimal
  ? string
  : T extends Date
    ? string
    : T extends (infer U)[]
      ? Plain<U>[]
      : T extends object
        ? { [K in keyof T]: Plain<T[K]> }
        : T;

export type ChargeJson = Plain<ChargeView>;
export type RunJson = NonNullable<NonNullable<ChargeJson['realizations']>['currentRun']>;
export type ExplanationJson = Plain<Explanation>;

/**
 * Everything the explorer shows about one charge, from the readers the CLI prints: `charge` is what
 * `charge --json` prints, `history` what `history --json` prints, `proration` what `explain --json`
 * prints. The page renders this document and nothing else, so scripts and people read the same data.
 */
export interface ChargeDocument {
  charge: ChargeJson;
  history: History;
  proration: ExplanationJson;
}

/**
 * One snapshot (a read-only REPEATABLE READ transaction): a job committing between the reads would
 * otherwise show a journal entry whose effect the runs above it do not have yet.
 */
export async function loadChargeDocument(knex: Knex, namespace: string, chargeId: string): Promise<ChargeDocument | null> {
  return knex.transaction(
    async (trx) => {
      const charge = await getCharge(trx, namespace, chargeId, { expand: ['realizations', 'detailedLines'] });
      if (!charge) return null;
      const history = await loadHistory(trx, namespace, chargeId);
      const explanation = await explainCharge(trx, namespace, chargeId);
      // Both exist once the charge does (same snapshot); the check only satisfies their types.
      if (!history || !explanation) return null;
      return { charge: chargeJson(charge) as ChargeJson, history, proration: toPlainJson(explanation) as ExplanationJson };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}
