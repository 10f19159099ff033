/** Shapes of the pure planner; object literals follow the seeds' key order, so a job's JSON looks like them. */
import type { ConfigValue } from '../gohan/config-value';
export type { ConfigValue };

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type ResourceRef = { resource_type: string; resource_id: string };

/** Deferred reference to a Heat output of another resource's stack (resolved by the heat worker). */
export type OutputKeyRef = { output_key: string } & ResourceRef;

/** Element of a `type: list` param: a nested output_key param whose own `resources` stay empty. */
export type NestedParam = { param: string; type: 'output_key'; value: OutputKeyRef; resources: ResourceRef[] };

/** A mapping's result; as a job param it also names the param. */
export type Evaluated = { resources: ResourceRef[] } & (
  | { type: 'value'; value: JsonValue }
  | { type: 'output_key'; value: OutputKeyRef }
  | { type: 'list'; value: NestedParam[] }
);
export type Param = Evaluated & { param: string };

/** A job id starts with `<action>:<handler>:`: a resource's jobs are ranged one prefix per pair (jobs/job-index.ts). */
export const JOB_ACTIONS = ['create', 'modify', 'logical_delete', 'delete'] as const;
export const JOB_HANDLERS = ['heat_worker', 'monitoring_worker'] as const;
export type JobAction = (typeof JOB_ACTIONS)[number];
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

/** A mapping expression of the parameter_mappings / template_mappings language (mapping.ts). */
export type Mapping = JsonValue;

/** `parameter_mappings`' key order is the param order of the jobs. */
export interface HeatTemplate {
  id: string;
  handler: string;
  watch: JsonValue[];
  template_file: string;
  parameter_mappings: Record<string, Mapping>;
}

/** One step of a job chain (docs/templates.md, `chains`). */
export interface ChainStep {
  handler: string;
  action?: string;
  on_failure?: OnFailure;
  params_from?: 'current' | 'previous';
  for_actions?: string[];
}

/** template_mappings.yaml: per handler, resource type → template-id mapping; `chains` per type (or `default`). */
export interface TemplateMappings {
  handlers: Record<string, Record<string, Mapping>>;
  chains: Record<string, ChainStep[]>;
}

/** Read-only view of etcd at planning time, by Gohan singular; it must not change during a plan. */
export interface PlanningView {
  /** Current `/config` value, and the one the worker last acted on (its mirror). */
  resource(type: string, id: string): ConfigValue | undefined;
  previous(type: string, id: string): ConfigValue | undefined;
  pendingJobs(type: string, id: string): string[];
  /** Unfinished jobs of OTHER resources whose params reference this one. */
  referencingPendingJobs(type: string, id: string): string[];
}
