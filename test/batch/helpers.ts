import { Knex } from 'knex';
import pino from 'pino';
import { ulid } from 'ulid';
import { applyBatch } from '../../src/engine/batch-apply';
import { BatchItem, ItemOutcome } from '../../src/engine/batch-item';
import { jobDefinition } from '../../src/queues/registry';
import { allocation, NS } from '../helpers/fixtures';
import { createCharge } from '../helpers/seed';

export const silent = pino({ level: process.env.LOG_LEVEL || 'silent' });

export function item(data: unknown, jobId = `job-${ulid()}`): BatchItem {
  return { data, jobId, job: null, resumedAfterDelay: false, startedAt: new Date() };
}

/** Applies one batch of a queue's jobs as the batched worker would, without Redis. */
export function apply(knex: Knex, queue: string, items: BatchItem[]): Promise<ItemOutcome[]> {
  return applyBatch(jobDefinition(queue)!, items, { knex, logger: silent });
}

export async function chargesWithRuns(knex: Knex, count: number, overrides: Record<string, unknown> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await createCharge(knex, { settlementMode: 'credit_then_invoice', ...overrides })).chargeId);
  return ids;
}

export function allocate(chargeId: string, amount: string, extra: Record<string, unknown> = {}) {
  return { namespace: NS, chargeId, realizations: [allocation(amount)], ...extra };
}

export function codeOf(outcome: ItemOutcome): string | null {
  if (outcome.ok) return null;
  const message = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
  return /^([a-z_0-9]+): /.exec(message)?.[1] ?? message;
}

/**
 * COMMITs that fail, for real: a deferred constraint trigger on the idempotency keys of
 * allocate-credit raises a serialization failure at COMMIT time the first `commits` times it fires.
 * A sequence counts the firings because it is not rolled back with the failed transaction.
 */
export async function failNextAllocateCommits(knex: Knex, commits = 1): Promise<() => Promise<void>> {
  await knex.raw(`CREATE SEQUENCE IF NOT EXISTS batch_commit_fault_seq`);
  await knex.raw(`SELECT setval('batch_commit_fault_seq', 1, false)`);
  // A failing COMMIT draws one number (its first row raises, ending it); the one that succeeds draws the rest.
  await knex.raw(`CREATE OR REPLACE FUNCTION batch_commit_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF nextval('batch_commit_fault_seq') <= ${Number(commits)} THEN
        RAISE EXCEPTION 'injected failure at COMMIT' USING ERRCODE = '40001';
      END IF;
      RETURN NULL;
    END $$`);
  await knex.raw(`CREATE CONSTRAINT TRIGGER batch_commit_fault AFTER INSERT ON flat_fee_idempotency_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.queue = 'allocate-credit') EXECUTE FUNCTION batch_commit_fault()`);
  return async () => {
    await knex.raw(`DROP TRIGGER IF EXISTS batch_commit_fault ON flat_fee_idempotency_keys`);
  };
}

/** The round trips (knex query events) a call sends: the set-based path needs two per batch. */
export async function roundTrips<T>(knex: Knex, body: () => Promise<T>): Promise<{ out: T; trips: number }> {
  let trips = 0;
  const count = () => trips++;
  knex.on('query', count);
  try {
    return { out: await body(), trips };
  } finally {
    knex.removeListener('query', count);
  }
}
