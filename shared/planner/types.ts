/**
 * Shapes the pure planner consumes and produces. Key order of the object literals built from
 * these types follows the seeds (Python-2 dict order), so a JSON dump of a job looks like them.
 */
import type { ConfigValue } from '../gohan/config-value';

export type { ConfigValue };

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface ResourceRef {
  resource_type: string;
  resource_id: string;
}

/** Deferred reference to a Heat output of another resource's stack (resolved by the heat worker). */
export interface OutputKeyRef {
  output_key: string;
  resource_type: string;
  resource_id: string;
}

/** Element of a `type: list` param: a nested output_key param whose own `resources` stay empty. */
export interface NestedParam {
  param: string;
  type: 'output_key';
  value: OutputKeyRef;
  resources: ResourceRef[];
}

export type Param =
  | { resources: ResourceRef[]; type: 'value'; value: JsonValue; param: string }
  | { resources: ResourceRef[]; type: 'output_key'; value: OutputKeyRef; param: string }
  | { resources: ResourceRef[]; type: 'list'; value: NestedParam[]; param: string };

/**
 * Every job action and every handler a job can have. A job id starts with both
 * (`<action>:<handler>:...`), so the jobs of a resource are found by ranging one prefix per pair
 * (shared/jobs/job-index.ts); template_mappings may name no other.
 */
export const JOB_ACTIONS = ['create', 'modify', 'logical_delete', 'delete'] as const;
export const JOB_HANDLERS = ['heat_worker', 'monitoring_worker'] as const;
export type JobAction = (typeof JOB_ACTIONS)[number];
/** A job that removes what its resource had (Gohan's logical delete, or a delete). */
export const isDeleteAction = (action: string): boolean => action === 'logical_delete' || action === 'delete';
export type OnFailure = 'fail' | 'ignore';

export interface Job {
  is_first: boolean;
  resource_id: string;
  handler: string;
  job_name: string;
  dependency: string[];
  version: number;
  params: Param[];
  resource_type: string;
  action: string;
  is_last: boolean;
  on_failure: OnFailure;
  id: string;
  resource_input: JsonObject;
}

/** The value stored at `/jobs/all/<id>`: handler, job, and a counter that is 0 in all recorded jobs. */
export type StoredJobTuple = [string, Job, 0];

/** A mapping expression of the parameter_mappings / template_mappings language (see mapping.ts). */
export type Mapping = JsonValue;

export interface HeatTemplate {
  id: string;
  handler: string;
  watch: JsonValue[];
  template_file: string;
  /** param name → mapping; the key order is the param order of the jobs. */
  parameter_mappings: Record<string, Mapping>;
}

/** One step of a job chain (docs/templates.md, `chains` in template_mappings.yaml). */
export interface ChainStep {
  handler: string;
  /** Fixed job action; absent means the change's own action (create/modify/logical_delete). */
  action?: string;
  on_failure?: OnFailure;
  /** Which version of the resource the params are read from; `previous` is the worker's last-seen version. */
  params_from?: 'current' | 'previous';
  /** The step is emitted only for these change actions; absent means all. */
  for_actions?: string[];
}

/**
 * template_mappings.yaml as an object: one section per handler (`heat_worker`, `monitoring_worker`,
 * …) mapping resource type → template-id mapping, plus `chains` (resource type or `default` →
 * ordered steps).
 */
export interface TemplateMappings {
  handlers: Record<string, Record<string, Mapping>>;
  chains: Record<string, ChainStep[]>;
}

/** Gohan schema facts the mapping language needs. */
export interface SchemaLookup {
  plural(singular: string): string | undefined;
  singular(plural: string): string | undefined;
  /** Resource type an id field points at (`vnf_instance_id` → `vnf_instance`), or undefined. */
  relation(type: string | undefined, idField: string): string | undefined;
}

/**
 * Read-only view of etcd at planning time. Types are Gohan singulars. Implementations must not
 * change while a plan is computed; the planner never writes through it.
 */
export interface PlanningView {
  /** Current `/config` value of a resource. */
  resource(type: string, id: string): ConfigValue | undefined;
  /** The version the worker last acted on (`/esi-worker/config` mirror), before this change. */
  previous(type: string, id: string): ConfigValue | undefined;
  /** Ids of the unfinished jobs (still under `/jobs/all`) of that resource. */
  pendingJobs(type: string, id: string): string[];
  /**
   * Ids of the unfinished jobs of OTHER resources whose params reference this resource (it is in
   * one of their `resources` lists). They were all planned before the plan being computed.
   */
  referencingPendingJobs(type: string, id: string): string[];
}
