// A heat_worker job → what the Heat client is called with (docs/heat-handler.md "Preparing a job"). Pure: the
// referenced stacks' outputs come in through `outputsOf`. Every error thrown here is a job failure (isPrepareFailure).
import { isDeleteAction, type Job, type Param } from '../planner/types';
import {
  HotParseError,
  parseHot,
  renderHotTemplate,
  splitJobParams,
  TemplateRenderError,
  validateHot,
} from '../templates/render';
import { stackNameOf } from './records';
import type { HeatOutput } from './types';

/** The outputs stored for a resource's stack, or undefined when there is no stack record. */
export type OutputsOf = (resourceType: string, resourceId: string) => readonly HeatOutput[] | undefined;

/** Heat's own default stack timeout (stack_action_timeout = 3600 s). */
const DEFAULT_TIMEOUT_MINS = 60;

class PrepareError extends Error {
  override name = 'PrepareError';
}

export class JobParamError extends PrepareError {
  override name = 'JobParamError';
}

const paramError = (param: unknown, where: string, text: string) =>
  new JobParamError(`param "${String(param)}"${where}: ${text}`);

export class MissingOutputError extends PrepareError {
  override name = 'MissingOutputError';
  readonly reason: 'no_stack' | 'no_output';
  /** `outputs`: those of the resource's stack record, undefined when there is none. */
  constructor(
    readonly param: string,
    readonly resourceType: string,
    readonly resourceId: string,
    readonly outputKey: string,
    outputs: readonly HeatOutput[] | undefined,
    where: string,
  ) {
    const stack = stackNameOf(resourceType, resourceId);
    const have = outputs?.map((o) => o.output_key);
    const has = have?.length ? `it has ${have.join(', ')}` : 'it has no outputs';
    super(
      have
        ? `param "${param}"${where}: the stack of ${resourceType} ${resourceId} (${stack}) has no output "${outputKey}" (${has})`
        : `param "${param}"${where}: no Heat stack recorded for ${resourceType} ${resourceId} (stack ${stack}), so its output "${outputKey}" is unknown`,
    );
    this.reason = have ? 'no_output' : 'no_stack';
  }
}

export class InvalidHotError extends PrepareError {
  override name = 'InvalidHotError';
  constructor(templateId: string, problems: string[]) {
    super(`template "${templateId}" rendered to invalid HOT: ${problems.join('; ')}`);
  }
}

/** True for every error prepareStack throws on purpose (a failed job, not a transient fault). */
export const isPrepareFailure = (e: unknown): boolean =>
  e instanceof PrepareError || e instanceof TemplateRenderError || e instanceof HotParseError;

type PreparedStack =
  | {
      action: 'create_or_update';
      stackName: string;
      /** The parsed HOT document (sent to Heat as a JSON object) and its text. */
      template: Record<string, unknown>;
      templateText: string;
      /** The job's non-jinja_, non-worker params, resolved, in job order. */
      parameters: Record<string, unknown>;
      timeoutMins: number;
    }
  | { action: 'delete'; stackName: string; timeoutMins: number };

/** `heat_timeout` ("13" from a C-constant, 13 from {constant: 13}) → minutes. */
export function timeoutMinsOf(value: unknown): number {
  if (value === undefined || value === null || value === '') return DEFAULT_TIMEOUT_MINS;
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n <= 0)
    throw paramError('heat_timeout', '', `expected a positive whole number of minutes, got ${JSON.stringify(value)}`);
  return n;
}

function resolveOutput(
  param: string,
  ref: { output_key?: unknown; resource_type?: unknown; resource_id?: unknown },
  outputsOf: OutputsOf,
  where = '',
): unknown {
  const { output_key: key, resource_type: type, resource_id: id } = ref;
  if (typeof key !== 'string' || typeof type !== 'string' || typeof id !== 'string')
    throw paramError(param, where, 'output_key reference without output_key, resource_type and resource_id');
  const outputs = outputsOf(type, id);
  const out = outputs?.find((o) => o.output_key === key);
  if (!out) throw new MissingOutputError(param, type, id, key, outputs, where);
  return out.output_value;
}

function resolveParam(p: Param, outputsOf: OutputsOf): unknown {
  switch (p.type) {
    case 'value':
      return p.value;
    case 'output_key':
      return resolveOutput(p.param, p.value, outputsOf);
    case 'list':
      if (!Array.isArray(p.value)) throw paramError(p.param, '', 'a list param whose value is not a list');
      return p.value.map((el, i) => {
        const e = el as { type?: unknown; value?: unknown };
        if (e && e.type === 'output_key' && typeof e.value === 'object' && e.value !== null)
          return resolveOutput(p.param, e.value, outputsOf, ` (element ${i})`);
        if (e && e.type === 'value') return e.value;
        throw paramError(p.param, ` (element ${i})`, 'not an output_key or value param');
      });
    default: {
      const { param, type } = p as { param?: unknown; type?: unknown };
      throw paramError(param, '', `unknown type ${JSON.stringify(type)}`);
    }
  }
}

export const resolveParams = (job: Pick<Job, 'params'>, outputsOf: OutputsOf): Record<string, unknown> =>
  Object.fromEntries(job.params.map((p) => [p.param, resolveParam(p, outputsOf)]));

/** The stack a heat_worker job asks for; a delete job needs neither params nor template. */
export function prepareStack(
  job: Pick<Job, 'action' | 'resource_type' | 'resource_id' | 'params'>,
  template: { id: string; template_file: string; handler?: string },
  outputsOf: OutputsOf,
): PreparedStack {
  const stackName = stackNameOf(job.resource_type, job.resource_id);
  const timeoutParam = job.params.find((p) => p.param === 'heat_timeout');
  const timeoutValue = timeoutParam?.type === 'value' ? timeoutParam.value : undefined;
  if (isDeleteAction(job.action)) {
    // A bad heat_timeout must not keep a stack from being deleted: fall back to the default.
    let timeoutMins = DEFAULT_TIMEOUT_MINS;
    try {
      timeoutMins = timeoutMinsOf(timeoutValue);
    } catch {
      /* default */
    }
    return { action: 'delete', stackName, timeoutMins };
  }
  const timeoutMins = timeoutMinsOf(timeoutValue);
  if (job.action !== 'create' && job.action !== 'modify')
    throw new JobParamError(
      `job action ${JSON.stringify(job.action)} is not one the heat worker handles (create, modify, logical_delete, delete)`,
    );
  if (template.handler !== undefined && template.handler !== 'heat_worker')
    throw new JobParamError(`template "${template.id}" belongs to ${template.handler}, not heat_worker`);
  const { jinjaVars, stackParams } = splitJobParams(resolveParams(job, outputsOf));
  const templateText = renderHotTemplate(template.template_file, jinjaVars, template.id);
  const doc = parseHot(templateText);
  const problems = validateHot(doc, stackParams);
  if (problems.length) throw new InvalidHotError(template.id, problems);
  return { action: 'create_or_update', stackName, template: doc, templateText, parameters: stackParams, timeoutMins };
}
