import { Command, CommanderError } from 'commander';
import { Knex } from 'knex';
import { withApp } from '../app';
import { findCharge } from '../db/charges';
import { listEntriesOfCharge } from '../db/journal';
import { describeChanges, describeMoves, JournalRecord, MovedTotal, movedTotals } from '../domain/journal';
import { table } from './render';

export interface HistoryEntryJson extends Omit<JournalRecord, 'startedAt' | 'finishedAt'> {
  startedAt: string;
  finishedAt: string;
  moved: MovedTotal[];
}

export interface History {
  namespace: string;
  chargeId: string;
  entries: HistoryEntryJson[];
}

/** The charge's timeline, oldest first; null when neither the charge nor any entry exists. */
export async function loadHistory(knex: Knex, namespace: string, chargeId: string): Promise<History | null> {
  const records = await listEntriesOfCharge(knex, namespace, chargeId);
  if (records.length === 0 && !(await findCharge(knex, namespace, chargeId))) return null;
  const entries = records.map((r) => ({
    ...r,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt.toISOString(),
    moved: movedTotals(r.totalsBefore, r.totalsAfter),
  }));
  return { namespace, chargeId, entries };
}

function outcomeText(e: HistoryEntryJson): string {
  return e.outcome === 'rejected' ? `rejected ${e.errorCode}` : e.outcome;
}

export function renderHistory(h: History): string {
  if (h.entries.length === 0) return `charge ${h.chargeId}: no journal entries (it predates the journal)\n`;
  const head = ['#', 'finished (UTC)', 'queue', 'job', 'try', 'outcome', 'run', 'changed', 'totals moved'];
  const rows = h.entries.map((e, i) => [
    String(i + 1),
    e.finishedAt.replace('T', ' ').replace('Z', ''),
    e.queue,
    e.jobId ?? '-',
    e.attempt === null ? '-' : String(e.attempt),
    outcomeText(e),
    e.runChange ? `${e.runChange.previousRunId ?? '-'} → ${e.runId ?? '-'} (released ${e.runChange.releasedCredits})` : e.runId ?? '-',
    e.outcome === 'applied' ? describeChanges(e.changes) : '-',
    describeMoves(e.moved),
  ]);
  return `charge ${h.chargeId} (${h.namespace}): ${h.entries.length} journal entries, oldest first\n` + table([head, ...rows]);
}

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description("a charge's timeline, oldest first: every job that touched it, its outcome and the totals it moved")
    .argument('<namespace>')
    .argument('<chargeId>')
    .option('--json', 'print JSON')
    .action(async (namespace: string, chargeId: string, opts: { json?: boolean }) => {
      await withApp(async (app) => {
        const history = await loadHistory(app.knex, namespace, chargeId);
        if (!history) throw new CommanderError(1, 'flatfee.not_found', `no charge and no journal entries [namespace=${namespace} charge_id=${chargeId}]`);
        process.stdout.write(opts.json ? `${JSON.stringify(history, null, 2)}\n` : renderHistory(history));
      });
    });
}
