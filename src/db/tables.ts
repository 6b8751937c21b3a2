/** Table names of SPEC §2 (run model) and §7 (legacy shape), and the worker's own bookkeeping. */
export const T = {
  charges: 'charge_flat_fees',
  runs: 'charge_flat_fee_runs',
  realizations: 'charge_flat_fee_run_credit_allocations',
  usages: 'charge_flat_fee_run_invoiced_usages',
  payments: 'charge_flat_fee_run_payments',
  detailedLines: 'charge_flat_fee_run_detailed_lines',
  receipts: 'charge_flat_fee_proration_receipts',
  idempotency: 'flat_fee_idempotency_keys',
  legacyAllocations: 'charge_flat_fee_credit_allocations',
  legacyDetailedLines: 'charge_flat_fee_detailed_line',
  legacyUsages: 'charge_flat_fee_invoiced_usages',
  legacyPayments: 'charge_flat_fee_payments',
  legacyMigrations: 'flat_fee_legacy_migrations',
} as const;
