import { Knex } from 'knex';
import { Charge, ChargeStatus } from '../domain/charge';
import { CreditRealization } from '../domain/credit';
import { formatAmount } from '../domain/money';
import { Run } from '../domain/run';
import { TOTAL_KEYS, Totals } from '../domain/totals';
import { fromDbCharge, fromDbRealization, fromDbRun, TOTAL_COLUMN_NAMES, toDbRealization } from './mapping';
import { T } from './tables';

// Set-based statements for a batch of jobs: each is one round trip whatever the batch size, with
// arrays bound through unnest so the statement text does not change with the batch.

export interface Scoped {
  namespace: string;
  id: string;
}

/**
 * Locks every charge of the batch in id order (the order every batch uses, so batches never
 * deadlock on each other) and returns them by id. Missing charges are simply absent.
 */
export async function lockCharges(trx: Knex.Transaction, keys: Scoped[]): Promise<Map<string, Charge>> {
  const { rows } = await trx.raw(
    `SELECT c.* FROM ${T.charges} c
       JOIN unnest(?::text[], ?::char(26)[]) AS k(namespace, id) ON c.namespace = k.namespace AND c.id = k.id
      ORDER BY c.id
      FOR UPDATE OF c`,
    [keys.map((k) => k.namespace), keys.map((k) => k.id)],
  );
  return new Map((rows as Record<string, unknown>[]).map((row) => [row.id as string, fromDbCharge(row)]));
}

export async function loadRuns(trx: Knex.Transaction, keys: Scoped[]): Promise<Map<string, Run>> {
  if (keys.length === 0) return new Map();
  const { rows } = await trx.raw(
    `SELECT r.* FROM ${T.runs} r
       JOIN unnest(?::text[], ?::char(26)[]) AS k(namespace, id) ON r.namespace = k.namespace AND r.id = k.id`,
    [keys.map((k) => k.namespace), keys.map((k) => k.id)],
  );
  return new Map((rows as Record<string, unknown>[]).map((row) => [row.id as string, fromDbRun(row)]));
}

/** Every realization of the given runs, grouped by run, in the order the per-job path reads them. */
export async function loadRealizations(trx: Knex.Transaction, keys: Scoped[]): Promise<Map<string, CreditRealization[]>> {
  const out = new Map<string, CreditRealization[]>(keys.map((k) => [k.id, []]));
  if (keys.length === 0) return out;
  const { rows } = await trx.raw(
    `SELECT a.* FROM ${T.realizations} a
       JOIN unnest(?::text[], ?::char(26)[]) AS k(namespace, id) ON a.namespace = k.namespace AND a.run_id = k.id
      ORDER BY a.created_at, a.sort_hint, a.id`,
    [keys.map((k) => k.namespace), keys.map((k) => k.id)],
  );
  for (const row of rows) out.get(row.run_id)?.push(fromDbRealization(row));
  return out;
}

const REALIZATION_COLUMNS: Array<[string, string]> = [
  ['id', 'char(26)'],
  ['namespace', 'text'],
  ['run_id', 'char(26)'],
  ['created_at', 'timestamptz'],
  ['updated_at', 'timestamptz'],
  ['deleted_at', 'timestamptz'],
  ['service_period_from', 'timestamptz'],
  ['service_period_to', 'timestamptz'],
  ['transaction_group_id', 'text'],
  ['amount', 'numeric'],
  ['line_id', 'char(26)'],
  ['type', 'text'],
  ['corrects_realization_id', 'char(26)'],
  ['sort_hint', 'integer'],
  ['annotations', 'jsonb'],
];

/** All new realizations of the batch in one INSERT … SELECT unnest, in the batch's order. */
export async function insertRealizationsMany(trx: Knex.Transaction, realizations: CreditRealization[]): Promise<void> {
  if (realizations.length === 0) return;
  const rows = realizations.map(toDbRealization);
  const names = REALIZATION_COLUMNS.map(([name]) => name).join(', ');
  const arrays = REALIZATION_COLUMNS.map(([, type]) => `?::${type}[]`).join(', ');
  await trx.raw(`INSERT INTO ${T.realizations} (${names}) SELECT * FROM unnest(${arrays})`, REALIZATION_COLUMNS.map(([name]) => rows.map((r) => r[name])));
}

/** Overwrites the totals of many runs in one UPDATE … FROM unnest. */
export async function updateRunTotalsMany(trx: Knex.Transaction, runs: Array<{ run: Scoped; totals: Totals; now: Date }>): Promise<void> {
  if (runs.length === 0) return;
  const sets = TOTAL_COLUMN_NAMES.map((c) => `${c} = u.${c}`).join(', ');
  const arrays = TOTAL_COLUMN_NAMES.map(() => '?::numeric[]').join(', ');
  await trx.raw(
    `UPDATE ${T.runs} r SET ${sets}, updated_at = u.updated_at
       FROM unnest(?::text[], ?::char(26)[], ?::timestamptz[], ${arrays}) AS u(namespace, id, updated_at, ${TOTAL_COLUMN_NAMES.join(', ')})
      WHERE r.namespace = u.namespace AND r.id = u.id`,
    [
      runs.map((r) => r.run.namespace),
      runs.map((r) => r.run.id),
      runs.map((r) => r.now),
      ...TOTAL_KEYS.map((key) => runs.map((r) => formatAmount(r.totals[key]))),
    ],
  );
}

/** Sets the status (and status_detailed) of many charges in one statement. */
export async function updateChargeStatusMany(trx: Knex.Transaction, charges: Array<{ charge: Scoped; status: ChargeStatus; now: Date }>): Promise<void> {
  if (charges.length === 0) return;
  await trx.raw(
    `UPDATE ${T.charges} c SET status = u.status, status_detailed = u.status, updated_at = u.updated_at
       FROM unnest(?::text[], ?::char(26)[], ?::text[], ?::timestamptz[]) AS u(namespace, id, status, updated_at)
      WHERE c.namespace = u.namespace AND c.id = u.id`,
    [charges.map((c) => c.charge.namespace), charges.map((c) => c.charge.id), charges.map((c) => c.status), charges.map((c) => c.now)],
  );
}
