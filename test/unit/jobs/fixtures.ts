import type { Job } from '../../../shared/planner/types';

/** A job with only the fields the lifecycle reads; ids follow `<action>:<handler>:<type>:<id>:<version>:<suffix>`. */
export function job(id: string, dependency: string[], extra: Partial<Job> = {}): Job {
  return {
    is_first: dependency.length === 0,
    resource_id: 'r1',
    handler: 'heat_worker',
    job_name: 'port:r1:2',
    dependency,
    version: 2,
    params: [],
    resource_type: 'port',
    action: 'modify',
    is_last: false,
    on_failure: 'fail',
    id,
    resource_input: {},
    ...extra,
  };
}
