import { Knex } from 'knex';
import { DetailedLine } from '../domain/invoiced-usage';
import { DetailedLinesPlan } from '../domain/invoiced-usage';
import { fromDbDetailedLine, toDbDetailedLine } from './mapping';
import { T } from './tables';

export async function listLiveDetailedLines(db: Knex, namespace: string, runId: string): Promise<DetailedLine[]> {
  const rows = await db(T.detailedLines)
    .where({ namespace, run_id: runId })
    .whereNull('deleted_at')
    .orderBy([{ column: 'index' }, { column: 'child_unique_reference_id' }]);
  return rows.map(fromDbDetailedLine);
}

/** Soft deletes go first so a reference freed in this plan can be taken again by an insert. */
export async function applyDetailedLinesPlan(trx: Knex.Transaction, plan: DetailedLinesPlan): Promise<void> {
  for (const line of plan.softDelete) {
    await trx(T.detailedLines).where({ namespace: line.namespace, id: line.id }).update({ deleted_at: line.deletedAt, updated_at: line.updatedAt });
  }
  for (const line of plan.update) {
    const { id: _id, created_at: _createdAt, ...changes } = toDbDetailedLine(line);
    await trx(T.detailedLines).where({ namespace: line.namespace, id: line.id }).update(changes);
  }
  if (plan.insert.length > 0) await trx(T.detailedLines).insert(plan.insert.map(toDbDetailedLine));
}
