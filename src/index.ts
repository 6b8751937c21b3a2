// The package entry for upstream services: enqueue flat-fee jobs with the typed client, never by
// building raw BullMQ jobs.
export { DEFAULT_JOB_OPTIONS, errorCodeOfReason, FlatFeeQueues } from './queues/producer';
export type { EnqueueOptions, FlatFeeQueuesOptions, JobOutcome, PayloadOf } from './queues/producer';
export { QUEUE_NAMES } from './queues/registry';
export { ServiceUnavailableError } from './queues/unavailable';
export type { QueueName } from './queues/registry';
export { DomainError, ERROR_CODES, RETRIED_CODES, ValidationError } from './domain/errors';
export type { ErrorCode, FieldProblem } from './domain/errors';

import type { PayloadOf } from './queues/producer';
export type CreateChargePayload = PayloadOf<'create-charge'>;
export type ActivateChargePayload = PayloadOf<'activate-charge'>;
export type AllocateCreditPayload = PayloadOf<'allocate-credit'>;
export type CreateInvoicedUsagePayload = PayloadOf<'create-invoiced-usage'>;
export type PaymentPayload = PayloadOf<'payment'>;
export type DeleteChargePayload = PayloadOf<'delete-charge'>;
export type MigrateLegacyFlatFeesPayload = PayloadOf<'migrate-legacy-flat-fees'>;
