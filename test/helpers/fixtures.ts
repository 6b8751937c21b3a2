import { ulid } from 'ulid';

export const NS = 'ns-test';

/** A valid create-charge payload; override any field. Amounts are strings, as on the wire. */
export function chargePayload(overrides: Record<string, unknown> = {}) {
  return {
    namespace: NS,
    id: ulid(),
    customerId: 'cust-1',
    currency: 'USD',
    name: 'Platform fee',
    settlementMode: 'credit_only',
    paymentTerm: 'in_advance',
    invoiceAt: '2026-01-01T00:00:00Z',
    servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
    fullServicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
    billingPeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
    proRating: { enabled: true, mode: 'prorate_prices' },
    amountBeforeProration: '100',
    ...overrides,
  };
}

export function totals(overrides: Partial<Record<string, string>> = {}) {
  return {
    amount: '0',
    chargesTotal: '0',
    discountsTotal: '0',
    taxesInclusiveTotal: '0',
    taxesExclusiveTotal: '0',
    taxesTotal: '0',
    creditsTotal: '0',
    total: '0',
    ...overrides,
  };
}

export function allocation(amount: string, extra: Record<string, unknown> = {}) {
  return { type: 'allocation', amount, transactionGroupId: `tg-${ulid()}`, ...extra };
}

export function correction(amount: string, correctsRealizationId: string, extra: Record<string, unknown> = {}) {
  return { type: 'correction', amount, transactionGroupId: `tg-${ulid()}`, correctsRealizationId, ...extra };
}
