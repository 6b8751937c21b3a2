import { Knex } from 'knex';
import { Charge } from '../domain/charge';
import { fromDbCharge } from './mapping';
import { T } from './tables';

export async function findCharge(db: Knex, namespace: string, id: string): Promise<Charge | null> {
  const row = await db(T.charges).where({ namespace, id }).first();
  return row ? fromDbCharge(row) : null;
}
