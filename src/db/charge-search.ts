import { Knex } from 'knex';
import { T } from './tables';

// Read-only look-ups for the charge explorer (src/board/charges): finding a charge from a pasted id
// and listing a customer's charges. Amounts stay NUMERIC text from PostgreSQL to the page.

/** Where a charge id lives: ids are ULIDs, so one pasted id is almost always in one namespace. */
export interface ChargeLocation {
  namespace: string;
  id: string;
}

/** The namespaces holding a charge with this id, deleted charges included; at most `limit`. */
export async function locateCharge(db: Knex, id: string, limit = 20): Promise<ChargeLocation[]> {
  const rows = await db(T.charges).where({ id }).orderBy('namespace').limit(limit).select('namespace', 'id');
  return rows.map((r: Record<string, string>) => ({ namespace: r.namespace, id: r.id }));
}

export interface ChargeListItem {
  id: string;
  namespace: string;
  customerId: string;
  name: string;
  currency: string;
  status: string;
  settlementMode: string;
  amountAfterProration: string;
  /** Live realizations of the current run; 0 without a current run or when it is voided (SPEC §4). */
  realizedCredits: string;
  createdAt: string;
  deletedAt: string | null;
}

export interface ChargeListPage {
  items: ChargeListItem[];
  hasMore: boolean;
}

// Per charge, the same sum realizedCredits (src/db/balance.ts) makes per customer.
const REALIZED = `coalesce((SELECT sum(a.amount) FROM ${T.realizations} a JOIN ${T.runs} r ON r.id = a.run_id AND r.namespace = a.namespace
   WHERE r.id = c.current_realization_run_id AND r.namespace = c.namespace AND r.deleted_at IS NULL
     AND r.type <> 'invalid_due_to_unsupported_credit_note' AND a.deleted_at IS NULL), 0)::text`;

/** A customer's charges in a namespace, newest first (created_at, then id), one page at a time. */
export async function listChargesOfCustomer(
  db: Knex,
  namespace: string,
  customerId: string,
  page: { offset: number; limit: number },
): Promise<ChargeListPage> {
  const rows = await db(`${T.charges} as c`)
    .where({ 'c.namespace': namespace, 'c.customer_id': customerId })
    .orderBy([{ column: 'c.created_at', order: 'desc' }, { column: 'c.id', order: 'desc' }])
    .offset(page.offset)
    .limit(page.limit + 1)
    .select(
      'c.id',
      'c.namespace',
      'c.customer_id',
      'c.name',
      'c.currency',
      'c.status',
      'c.settlement_mode',
      'c.amount_after_proration',
      'c.created_at',
      'c.deleted_at',
      db.raw(`${REALIZED} AS realized_credits`),
    );
  const items = rows.slice(0, page.limit).map((r: Record<string, any>) => ({
    id: r.id,
    namespace: r.namespace,
    customerId: r.customer_id,
    name: r.name,
    currency: r.currency,
    status: r.status,
    settlementMode: r.settlement_mode,
    amountAfterProration: r.amount_after_proration,
    realizedCredits: r.realized_credits,
    createdAt: (r.created_at as Date).toISOString(),
    deletedAt: r.deleted_at ? (r.deleted_at as Date).toISOString() : null,
  }));
  return { items, hasMore: rows.length > page.limit };
}
