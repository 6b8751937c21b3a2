import * as yup from 'yup';
import { legacyMigrationLanesFrom } from '../src/config';
import { Knex } from 'knex';
import { monotonicFactory } from 'ulid';
import {
  addCounts,
  countsOf,
  MigrationCounts,
  MigrationProgress,
  MigrationResult,
  migrationResult,
  mismatchError,
  NO_COUNTS,
  verification,
} from '../src/domain/legacy-migration';
import { BatchScope, lockLegacyCharges, moveBatch, nextLegacyChargeIds } from '../src/db/legacy-migration';
import { markFinished, readCheckpoint, saveBatch } from '../src/db/legacy-migration-checkpoint';
import { analyzeMigratedTables, checkAllMigrated, countPending, countUnmigratedCharges, legacyTablesPresent } from '../src/db/legacy-migration-verify';
import { faultPoint } from '../src/engine/faults';
import { JobContext } from '../src/engine/job-context';
import { idempotencyKey, strictObject, text } from '../src/validation';

export const name = 'migrate-legacy-flat-fees';

export const schema = strictObject({
  namespace: text().optional(),
  batchSize: yup.number().integer('${path} must be an integer').min(1).max(10000).optional(),
  dryRun: yup.boolean().optional(),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

/** Batches commit on their own (SPEC §7): the job's key records only the final result. */
export const runsOwnTransactions = true;

export const DEFAULT_BATCH_SIZE = 1000;

/**
 * Batches run side by side in this many lanes: Postgres runs a transaction on one core, so two lanes
 * keep a two-core database busy. Each lane is one pooled connection.
 */
const LANES = legacyMigrationLanesFrom();

/** Below this many charges moved, stale statistics cost less than refreshing them. */
const ANALYZE_AFTER_CHARGES = 10000;

// Monotonic ids: the runs' primary key grows at its right edge instead of splitting pages at random.
const newRunId = monotonicFactory();

interface Migration {
  knex: Knex;
  ctx: JobContext;
  scope: BatchScope;
  batchSize: number;
  done: MigrationCounts;
  batches: number;
  chargesTotal: number;
}

/**
 * Gives every legacy charge in scope its current run and moves its rows under it, batch by batch.
 * A redelivery resumes: legacy charges are found by their flag, and what earlier deliveries of the
 * key moved is read from their checkpoint. Finishes by checking every migrated row.
 */
export async function handle(p: Payload, ctx: JobContext): Promise<MigrationResult> {
  if (!ctx.knex) throw new Error(`${name} runs its own transactions and needs ctx.knex`);
  const knex = ctx.knex;
  const scope = { namespace: p.namespace ?? null };
  if (!(await legacyTablesPresent(knex))) return migrationResult(p.dryRun ?? false, NO_COUNTS, true);
  if (p.dryRun) return dryRun(knex, scope);

  const checkpoint = await readCheckpoint(knex, ctx.idempotencyKey);
  const pending = await countUnmigratedCharges(knex, scope);
  const m: Migration = {
    knex,
    ctx,
    scope,
    batchSize: p.batchSize ?? DEFAULT_BATCH_SIZE,
    done: checkpoint.counts,
    batches: checkpoint.batches,
    chargesTotal: checkpoint.counts.charges + pending,
  };
  await report(m, 'migrating');
  await migrateAll(m);
  await report(m, 'verifying');
  if (m.done.charges - checkpoint.counts.charges >= ANALYZE_AFTER_CHARGES) await analyzeMigratedTables(knex);
  const checked = await checkAllMigrated(knex, scope);
  if (!checked.ok) throw mismatchError(`migration of ${scope.namespace === null ? 'all namespaces' : `namespace ${scope.namespace}`}`, checked);
  await markFinished(knex, ctx.idempotencyKey);
  await report(m, 'done', { counts: m.done, verification: checked });
  ctx.logger.info({ job: name, ...m.done, batches: m.batches }, 'legacy migration finished and verified');
  return migrationResult(false, m.done, true);
}

async function dryRun(knex: Knex, scope: BatchScope): Promise<MigrationResult> {
  const [pending, migratedSoFar] = await Promise.all([countPending(knex, scope), checkAllMigrated(knex, scope)]);
  // What is already migrated must agree; what is pending is not a mismatch in a dry run.
  return migrationResult(true, pending, verification(migratedSoFar.tables, 0).ok);
}

/** The lanes take the next batch from one reader, in id order, until no legacy charge is left. */
async function migrateAll(m: Migration): Promise<void> {
  let after: string | null = null;
  let stopped = false;
  let reading: Promise<unknown> = Promise.resolve();
  const nextBatch = async (): Promise<string[]> => {
    // Once a lane failed, the others finish the batch in hand and take no other.
    const read = reading.then(() => (stopped ? [] : nextLegacyChargeIds(m.knex, m.scope, after, m.batchSize)));
    reading = read.catch(() => undefined);
    const ids = await read;
    if (ids.length > 0) after = ids[ids.length - 1];
    return ids;
  };
  const lane = async (laneNo: number) => {
    for (let ids = await nextBatch(); ids.length > 0; ids = await nextBatch()) {
      const moved = await m.knex.transaction((trx) => migrateBatch(trx, m, laneNo, ids)).catch((err) => {
        stopped = true;
        throw err;
      });
      m.done = addCounts(m.done, moved);
      m.batches += 1;
      await report(m, 'migrating');
      await faultPoint('after_batch', name, m.ctx.jobId);
    }
  };
  // Every lane ends before the job does, so a failed job leaves no batch running behind it.
  const outcomes = await Promise.allSettled(Array.from({ length: LANES }, (_, i) => lane(i)));
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
}

/** One transaction: lock the batch, move it, check it, checkpoint it. A mismatch rolls it all back. */
async function migrateBatch(trx: Knex.Transaction, m: Migration, lane: number, candidates: string[]): Promise<MigrationCounts> {
  const chargeIds = await lockLegacyCharges(trx, candidates);
  if (chargeIds.length === 0) return NO_COUNTS;
  const pairs = { chargeIds, runIds: chargeIds.map(() => newRunId()) };
  const checked = verification(await moveBatch(trx, pairs), 0);
  if (!checked.ok) {
    throw mismatchError(`batch of ${chargeIds.length} charges [first=${chargeIds[0]} last=${chargeIds[chargeIds.length - 1]}] rolled back`, checked);
  }
  const counts = countsOf(checked.tables, chargeIds.length);
  await saveBatch(trx, m.ctx.idempotencyKey, lane, m.scope.namespace, counts);
  return counts;
}

async function report(m: Migration, phase: MigrationProgress['phase'], extra: Partial<MigrationProgress> = {}): Promise<void> {
  const progress: MigrationProgress = {
    phase,
    chargesDone: m.done.charges,
    chargesTotal: Math.max(m.chargesTotal, m.done.charges),
    batches: m.batches,
    ...extra,
  };
  await m.ctx.job?.updateProgress(progress as unknown as Record<string, unknown>);
}
