/** The job lifecycle in etcd (docs/jobs.md): keys, claims, fenced writes, finishing, clean-up. */
export * from './job-keys';
export * from './values';
export * from './resolve';
export * from './claim';
export * from './settle';
export * from './finish';
export * from './cleanup';
export * from './job-index';
export * from './enqueue';
export * from './table';
