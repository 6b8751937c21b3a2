import type { Knex } from 'knex';
import { ulid } from 'ulid';

/**
 * `count` copies of a charge and its current run, each copy pointing at its own run, in three
 * statements: bulk set-up for tests and benchmarks, where creating every charge through the
 * create-charge job would take longer than the thing measured. Returns the copies' ids.
 */
export async function cloneCharge(knex: Knex, template: { chargeId: string; runId: string }, count: number): Promise<Array<{ chargeId: string; runId: string }>> {
  const chargeIds = Array.from({ length: count }, () => ulid());
  const runIds = chargeIds.map(() => ulid());
  await knex.transaction(async (trx) => {
    await trx.raw(
      `INSERT INTO charge_flat_fees SELECT (jsonb_populate_record(t, jsonb_build_object('id', n.cid, 'current_realization_run_id', null))).*
         FROM charge_flat_fees t, unnest(?::text[]) AS n(cid) WHERE t.id = ?`,
      [chargeIds, template.chargeId],
    );
    await trx.raw(
      `INSERT INTO charge_flat_fee_runs SELECT (jsonb_populate_record(r, jsonb_build_object('id', n.rid, 'charge_id', n.cid))).*
         FROM charge_flat_fee_runs r, unnest(?::text[], ?::text[]) AS n(cid, rid) WHERE r.id = ?`,
      [chargeIds, runIds, template.runId],
    );
    await trx.raw(`UPDATE charge_flat_fees c SET current_realization_run_id = n.rid FROM unnest(?::text[], ?::text[]) AS n(cid, rid) WHERE c.id = n.cid`, [
      chargeIds,
      runIds,
    ]);
  });
  return chargeIds.map((chargeId, i) => ({ chargeId, runId: runIds[i] }));
}
