/** The job lifecycle in etcd (docs/jobs.md): keys, claims, fenced writes, finishing, clean-up. */
export * from './job-keys';
export * from './values';
export * from './resolve';
export {
  tryClaimJob,
  jobTxn,
  claimHeld,
  retryJob,
  releaseClaim,
  resumeClaim,
  revokeQuietly,
  ClaimLostError,
} from './claim';
export type { Claim, ClaimAttempt, HeldClaim, ClaimOptions, ClaimRefusal, ClaimRef } from './claim';
export { settleWaiting, readStatuses } from './settle';
export type { SettleResult, SettledJob, SettleOptions } from './settle';
export { finishJob, settleDependents } from './finish';
export type { FinishResult, FinishOptions } from './finish';
export { cleanupChain, readChain } from './cleanup';
export type { ChainRef, ChainRead, CleanupResult } from './cleanup';
export * from './job-index';
export { jobWrites } from './enqueue';
export type { JobWrites } from './enqueue';
export { readJobTable } from './table';
export type { JobRow, JobKeyRef } from './table';
