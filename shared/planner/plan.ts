/**
 * planChange: one Gohan resource change → the jobs to store under /jobs/all (seeds point 2), or
 * "no template" (the resource is only read: /state READ_COMPLETE). Pure: everything it knows
 * comes from its input; decisions are explained in docs/planner.md.
 */
import { evaluateParam, evaluateValue, MappingError, type MappingContext } from './mapping';
import { chainFor, templateMappingFor } from './template-mappings';
import type {
  ChainStep,
  ConfigValue,
  HeatTemplate,
  Job,
  JobAction,
  JsonObject,
  Param,
  PlanningView,
  ResourceRef,
  SchemaLookup,
  StoredJobTuple,
  TemplateMappings,
} from './types';

export class PlanError extends Error {
  override name = 'PlanError';
}

export interface PlanInput {
  /** Gohan singular, e.g. `port`. */
  resourceType: string;
  resourceId: string;
  /**
   * The new `/config` value; undefined when Gohan deleted the key. A key delete of a resource the
   * worker saw alive (`view.previous`, not marked for deletion) plans its teardown: see planChange.
   */
  value: ConfigValue | undefined;
  templates: Readonly<Record<string, HeatTemplate>>;
  templateMappings: TemplateMappings;
  view: PlanningView;
  schema: SchemaLookup;
  /** Source of the 5-character job id suffix; inject a fixed one in tests. */
  randomSuffix?: () => string;
}

export interface PlannedJob {
  job: Job;
  /** The value to store at `/jobs/all/<job.id>`. */
  stored: StoredJobTuple;
}

/** What /state gets for a resource without a template (docs/PROTOCOL-NOTES.md §b). */
export interface ReadCompleteState {
  state: { worker_state: 'READ_COMPLETE' };
  version: number;
  error: '';
}

export type PlanResult =
  | { kind: 'jobs'; jobs: PlannedJob[] }
  | { kind: 'no_template'; state: ReadCompleteState }
  | { kind: 'deleted' }
  | { kind: 'error'; error: MappingError | PlanError };

export function changeAction(value: ConfigValue): JobAction {
  if (value.markedForDeletion) return 'logical_delete';
  return value.version === 1 ? 'create' : 'modify';
}

export function readCompleteState(version: number): ReadCompleteState {
  return { state: { worker_state: 'READ_COMPLETE' }, version, error: '' };
}

/**
 * The change a key delete stands for: the last version the worker saw, marked for deletion, one
 * version later (as a logical delete would have been); undefined when there is nothing to tear down
 * (never seen, or its logical delete was planned already).
 */
export function keyDeleteChange(previous: ConfigValue | undefined): ConfigValue | undefined {
  if (!previous || previous.markedForDeletion) return undefined;
  return { body: previous.body, version: previous.version + 1, markedForDeletion: true };
}

export function planChange(input: PlanInput): PlanResult {
  // A key delete after a logical delete (the record's Gohan), or of a resource the worker never
  // saw: nothing to run. A key delete of a live resource (upstream Gohan has no logical delete):
  // its `delete` chain, planned from the version the worker last saw (docs/gohan.md).
  const teardown = input.value ? undefined : keyDeleteChange(input.view.previous(input.resourceType, input.resourceId));
  const value = input.value ?? teardown;
  if (!value) return { kind: 'deleted' };
  try {
    const result = plan(input, value, teardown ? 'delete' : changeAction(value));
    return teardown && result.kind === 'no_template' ? { kind: 'deleted' } : result;
  } catch (e) {
    if (e instanceof MappingError || e instanceof PlanError) return { kind: 'error', error: e };
    throw e;
  }
}

interface Step {
  chain: ChainStep;
  template: HeatTemplate;
  /** The version the params are read from, and the other one (resources are doubled from it). */
  primary: ConfigValue;
  other: ConfigValue;
}

function plan(input: PlanInput, value: ConfigValue, action: JobAction): PlanResult {
  const { resourceType: type, resourceId: id } = input;
  const mirrored = input.view.previous(type, id);
  const previous = mirrored ?? value;
  const steps: Step[] = [];
  for (const chain of chainFor(input.templateMappings, type)) {
    if (chain.for_actions && !chain.for_actions.includes(action)) continue;
    // A step that acts on what the previous version did (e.g. removing its monitoring target)
    // has nothing to act on when the worker never acted on this resource before.
    if (chain.params_from === 'previous' && !mirrored) continue;
    const [primary, other] = chain.params_from === 'previous' ? [previous, value] : [value, previous];
    const template = selectTemplate(input, chain.handler, primary);
    if (template) steps.push({ chain, template, primary, other });
  }
  if (steps.length === 0) return { kind: 'no_template', state: readCompleteState(value.version) };

  const suffix = input.randomSuffix ?? randomSuffix;
  const ownPending = input.view.pendingJobs(type, id);
  // PROTOCOL-NOTES §a: a job also waits for the unfinished jobs of the resources that reference
  // this one, planned before it (04: the firewall's modify waits for its interface's modify, whose
  // params read the firewall): what they read of this resource is read before it changes again.
  const referencingPending = input.view.referencingPendingJobs(type, id).filter((jobId) => !ownPending.includes(jobId));
  const jobs: PlannedJob[] = [];
  steps.forEach((step, i) => {
    const params =
      action === 'delete'
        ? teardownParams(input, step)
        : withTemplate(step.template.id, () => buildParams(input, step, action));
    const jobAction = step.chain.action ?? action;
    const dependency = unique([
      ...referencedPending(input.view, params, { resource_type: type, resource_id: id }),
      ...referencingPending,
      ...ownPending,
      ...jobs.map((j) => j.job.id),
    ]);
    const job: Job = {
      is_first: i === 0,
      resource_id: id,
      handler: step.chain.handler,
      job_name: `${type}:${id}:${value.version}`,
      dependency,
      version: value.version,
      params,
      resource_type: type,
      action: jobAction,
      is_last: i === steps.length - 1,
      on_failure: step.chain.on_failure ?? 'fail',
      id: `${jobAction}:${step.chain.handler}:${type}:${id}:${value.version}:${suffix()}`,
      resource_input: value.body as JsonObject,
    };
    jobs.push({ job, stored: [job.handler, job, 0] });
  });
  return { kind: 'jobs', jobs };
}

function selectTemplate(input: PlanInput, handler: string, version: ConfigValue): HeatTemplate | undefined {
  return chooseTemplate(input.templateMappings, handler, input.resourceType, context(input, version), input.templates);
}

/**
 * The template the handler's template_mappings entry selects for a resource: evaluated against the
 * resource, then looked up and checked (it exists, it is the handler's). Undefined when there is no
 * entry or it yields null (the resource has no template). The planner and the job handlers both
 * choose through it.
 */
export function chooseTemplate(
  mappings: TemplateMappings,
  handler: string,
  resourceType: string,
  ctx: MappingContext,
  templates: Record<string, HeatTemplate>,
): HeatTemplate | undefined {
  const mapping = templateMappingFor(mappings, handler, resourceType);
  if (mapping === undefined || mapping === null) return undefined;
  const where = `template_mappings.${handler}.${resourceType}`;
  const { value: templateId } = evaluateValue(where, mapping, ctx);
  if (templateId === null) return undefined;
  if (typeof templateId !== 'string' || !templateId) {
    throw new MappingError(
      `param "${where}": mapping ${JSON.stringify(mapping)}: yields ${JSON.stringify(templateId)}, not a template id`,
      where,
      mapping,
    );
  }
  const template = templates[templateId];
  if (!template) throw new PlanError(`${where} selects template "${templateId}", which does not exist`);
  if (template.handler !== handler)
    throw new PlanError(
      `${where} selects template "${templateId}", whose handler is "${template.handler}", not "${handler}"`,
    );
  return template;
}

/**
 * Params in parameter_mappings key order. For modify and logical_delete every resources list is
 * the evaluation of both versions concatenated (docs/PROTOCOL-NOTES.md §a "Duplicates"), so a job also
 * waits for what the version it replaces referenced.
 */
function buildParams(input: PlanInput, step: Step, action: JobAction): Param[] {
  const primaryCtx = context(input, step.primary);
  const otherCtx = action === 'create' ? undefined : context(input, step.other);
  return Object.entries(step.template.parameter_mappings).map(([name, mapping]) => {
    const param = evaluateParam(name, mapping, primaryCtx);
    if (otherCtx) param.resources = [...param.resources, ...evaluateParam(name, mapping, otherCtx).resources];
    return param;
  });
}

/**
 * A teardown's params. What they reference may be gone from /config already (Gohan deletes a port,
 * its subnet and its network in quick succession): a delete needs only the stack name (heat) and
 * the resource's own fields (monitoring), so params that cannot be evaluated are planned empty
 * rather than leaving the stack behind.
 */
function teardownParams(input: PlanInput, step: Step): Param[] {
  try {
    return buildParams(input, step, 'delete');
  } catch (e) {
    if (e instanceof MappingError) return [];
    throw e;
  }
}

/** A mapping error of a template's parameter_mappings names the template too. */
function withTemplate<T>(templateId: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MappingError)
      throw new MappingError(`template "${templateId}": ${e.message}`, e.param, e.mapping, { cause: e });
    throw e;
  }
}

function context(input: PlanInput, version: ConfigValue): MappingContext {
  return {
    self: { resource_type: input.resourceType, resource_id: input.resourceId },
    body: version.body as JsonObject,
    version: version.version,
    view: input.view,
    schema: input.schema,
  };
}

/** Unfinished jobs of the resources the params visited (the resource's own are added separately). */
function referencedPending(view: PlanningView, params: Param[], self: ResourceRef): string[] {
  const seen = new Set<string>();
  const ids: string[] = [];
  for (const p of params) {
    for (const r of p.resources) {
      const k = `${r.resource_type}\u0000${r.resource_id}`;
      if (seen.has(k) || (r.resource_type === self.resource_type && r.resource_id === self.resource_id)) continue;
      seen.add(k);
      ids.push(...view.pendingJobs(r.resource_type, r.resource_id));
    }
  }
  return ids;
}

const unique = (xs: string[]): string[] => [...new Set(xs)];

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Default suffix source; job ids only need to be unlikely to collide within one resource version. */
export function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += ALPHABET[Math.floor(Math.random() * ALPHABET.length)];
  return s;
}
