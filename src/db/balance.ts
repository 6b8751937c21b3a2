import Decimal from 'decimal.js';
import { Knex } from 'knex';
import { Money } from '../domain/money';
import { T } from './tables';

/**
 * Realized credits of a customer in one currency (SPEC §4): allocations plus corrections on each
 * charge's current run. No current run or a voided one (credit-note invalidated, or deleted) adds 0;
 * prior runs never count. Summed in SQL as NUMERIC, returned as a Decimal.
 */
export async function realizedCredits(knex: Knex, namespace: string, customerId: string, currency: string): Promise<Decimal> {
  const row = await knex(`${T.charges} as c`)
    .join(`${T.runs} as r`, function () {
      this.on('r.id', '=', 'c.current_realization_run_id').andOn('r.namespace', '=', 'c.namespace');
    })
    .join(`${T.realizations} as a`, function () {
      this.on('a.run_id', '=', 'r.id').andOn('a.namespace', '=', 'r.namespace');
    })
    .where({ 'c.namespace': namespace, 'c.customer_id': customerId, 'c.currency': currency })
    .whereNull('r.deleted_at')
    .whereNull('a.deleted_at')
    .where('r.type', '<>', 'invalid_due_to_unsupported_credit_note')
    .first(knex.raw('coalesce(sum(a.amount), 0)::text as total'));
  return new Money(row?.total ?? 0);
}
