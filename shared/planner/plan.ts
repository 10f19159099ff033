/** planChange: one Gohan resource change → the jobs for /jobs/all, or READ_COMPLETE. Pure; docs/planner.md. */
import { evaluateParam, evaluateValue, MappingError, type MappingContext } from './mapping';
import type {
  ChainStep,
  ConfigValue,
  HeatTemplate,
  Job,
  JobAction,
  JsonObject,
  Param,
  PlanningView,
  TemplateMappings,
} from './types';
import type { SchemaIndex } from './schema';

export class PlanError extends Error {
  override name = 'PlanError';
}

export interface PlanInput {
  /** Gohan singular, e.g. `port`. */
  resourceType: string;
  resourceId: string;
  /** The new `/config` value; undefined when Gohan deleted the key (see planChange). */
  value: ConfigValue | undefined;
  templates: Readonly<Record<string, HeatTemplate>>;
  templateMappings: TemplateMappings;
  view: PlanningView;
  schema: SchemaIndex;
  randomSuffix?: () => string;
}

const DEFAULT_CHAIN: ChainStep[] = [{ handler: 'heat_worker' }];

/** `stored`: the value at `/jobs/all/<job.id>` (handler, job, attempt). */
export type PlannedJob = { job: Job; stored: [string, Job, 0] };

export type PlanResult =
  | { kind: 'jobs'; jobs: PlannedJob[] }
  | { kind: 'no_template'; state: ReadCompleteState }
  | { kind: 'deleted' }
  | { kind: 'error'; error: MappingError | PlanError };

export function changeAction(value: ConfigValue): JobAction {
  return value.markedForDeletion ? 'logical_delete' : value.version === 1 ? 'create' : 'modify';
}

/** What /state gets for a resource without a template (docs/PROTOCOL-NOTES.md §b). */
export const readCompleteState = (version: number) =>
  ({ state: { worker_state: 'READ_COMPLETE' }, version, error: '' }) as const;
export type ReadCompleteState = ReturnType<typeof readCompleteState>;

/** A key delete as a change: the worker's last-seen version deleted; undefined when nothing is left to tear down. */
export function keyDeleteChange(previous: ConfigValue | undefined): ConfigValue | undefined {
  if (!previous || previous.markedForDeletion) return undefined;
  return { body: previous.body, version: previous.version + 1, markedForDeletion: true };
}

export function planChange(input: PlanInput): PlanResult {
  // A key delete of a live resource plans its `delete` chain from the version the worker last saw (docs/gohan.md).
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

/** `primary`: the version params are read from; `other` doubles their resources. */
type Step = { chain: ChainStep; template: HeatTemplate; primary: ConfigValue; other: ConfigValue };

function plan(input: PlanInput, value: ConfigValue, action: JobAction): PlanResult {
  const { resourceType: type, resourceId: id } = input;
  const mirrored = input.view.previous(type, id);
  const previous = mirrored ?? value;
  const steps: Step[] = [];
  // A type without a chain of its own or a `default` one has one heat_worker step.
  for (const chain of input.templateMappings.chains[type] ?? input.templateMappings.chains.default ?? DEFAULT_CHAIN) {
    if (chain.for_actions && !chain.for_actions.includes(action)) continue;
    // Acting on what the previous version did needs a version the worker acted on.
    if (chain.params_from === 'previous' && !mirrored) continue;
    const [primary, other] = chain.params_from === 'previous' ? [previous, value] : [value, previous];
    const ctx = context(input, primary);
    const template = chooseTemplate(input.templateMappings, chain.handler, type, ctx, input.templates);
    if (template) steps.push({ chain, template, primary, other });
  }
  if (steps.length === 0) return { kind: 'no_template', state: readCompleteState(value.version) };

  const suffix = input.randomSuffix ?? randomSuffix;
  const ownPending = input.view.pendingJobs(type, id);
  // What referencing jobs read of this resource is read before it changes again (docs/planner.md "dependency").
  const referencingPending = input.view.referencingPendingJobs(type, id).filter((jobId) => !ownPending.includes(jobId));
  const jobs: PlannedJob[] = [];
  steps.forEach((step, i) => {
    const params = stepParams(input, step, action);
    const jobAction = step.chain.action ?? action;
    // Unfinished jobs of the resources the params visited, first seen first, then the others.
    const referenced = params
      .flatMap((p) => p.resources)
      .filter((r) => r.resource_type !== type || r.resource_id !== id)
      .flatMap((r) => input.view.pendingJobs(r.resource_type, r.resource_id));
    const dependency = new Set([...referenced, ...referencingPending, ...ownPending, ...jobs.map((j) => j.job.id)]);
    const job: Job = {
      is_first: i === 0,
      resource_id: id,
      handler: step.chain.handler,
      job_name: `${type}:${id}:${value.version}`,
      dependency: [...dependency],
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

/** The checked template a handler's template_mappings entry selects (none: undefined); job work uses it too. */
export function chooseTemplate(
  mappings: TemplateMappings,
  handler: string,
  resourceType: string,
  ctx: MappingContext,
  templates: Record<string, HeatTemplate>,
): HeatTemplate | undefined {
  const section = mappings.handlers[handler] ?? {};
  const mapping = Object.hasOwn(section, resourceType) ? section[resourceType] : undefined;
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

// Params in parameter_mappings order; except in a create, their resources cover both versions (docs/planner.md).
// A mapping error names the template. A teardown's params that cannot be evaluated are planned empty: what they
// reference may be gone (Gohan deletes a port, its subnet and network at once); a delete needs only its own fields.
function stepParams(input: PlanInput, step: Step, action: JobAction): Param[] {
  const primaryCtx = context(input, step.primary);
  const otherCtx = action === 'create' ? undefined : context(input, step.other);
  try {
    return Object.entries(step.template.parameter_mappings).map(([name, mapping]) => {
      const param = evaluateParam(name, mapping, primaryCtx);
      if (otherCtx) param.resources = [...param.resources, ...evaluateParam(name, mapping, otherCtx).resources];
      return param;
    });
  } catch (e) {
    if (!(e instanceof MappingError)) throw e;
    if (action === 'delete') return [];
    throw new MappingError(`template "${step.template.id}": ${e.message}`, e.param, e.mapping, { cause: e });
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

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Job ids only need to be unlikely to collide within one resource version. */
export const randomSuffix = (): string =>
  Array.from({ length: 5 }, () => ALPHABET[Math.floor(Math.random() * ALPHABET.length)]).join('');
