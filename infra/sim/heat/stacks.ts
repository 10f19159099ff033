/**
 * The Heat engine of the simulator: stacks, their state machine
 * (CREATE|UPDATE|DELETE _IN_PROGRESS → _COMPLETE | _FAILED after a latency), physical resources,
 * outputs (computed from the template, or taken from a fixtures file), per-stack operation
 * counts, fault rules, and optional registration of ESI::Monitoring::MonitoringTarget resources
 * with a (simulated) monitoring collector, as the ESI Heat plugin did.
 */
import crypto from 'node:crypto';
import { isObject, isoSeconds, type JsonObject, text } from '../http-util';
import { type FaultOp, type Faults } from './faults';
import {
  Evaluator,
  heatError,
  MONITORING_TARGET,
  parseTemplate,
  type PhysicalResource,
  typeParameters,
  type TypedParameters,
} from './hot';

export type Action = 'CREATE' | 'UPDATE' | 'DELETE';
export type Status = 'IN_PROGRESS' | 'COMPLETE' | 'FAILED';

export interface Stack {
  id: string;
  name: string;
  tenant: string;
  template: JsonObject;
  /** Parameters as the client passed them (PATCH updates merge into these). */
  given: JsonObject;
  params: TypedParameters;
  /** Undefined: no timeout (an update without one clears it). */
  timeoutMins: number | undefined;
  disableRollback: boolean;
  action: Action;
  status: Status;
  reason: string;
  /** Heat's `creation_time`; `updated_time` stays null until the first update or delete starts. */
  creationTime: string;
  updatedTime: string | null;
  deletionTime: string | null;
  resources: Record<string, PhysicalResource>;
  /** null while no outputs exist (create in progress or failed). */
  outputs: JsonObject[] | null;
  deleted: boolean;
  /** Heat's stack tags: a list, or null when the stack has none. */
  tags: string[] | null;
  /** Bumped on every operation so a late timer of an older operation does nothing. */
  generation: number;
}

export interface OpCounts {
  creates: number;
  updates: number;
  deletes: number;
}

/** Registers monitoring targets; the default invents ids, the collector-backed one POSTs them. */
export interface MonitoringRegistrar {
  register(properties: JsonObject): Promise<{ id: string; link: string }>;
  unregister(id: string): Promise<void>;
}

export interface EngineOptions {
  latencyMs: number;
  /** How long one of the stack's timeout_mins lasts here (real Heat: 60000). */
  minuteMs: number;
  projectName: string;
  fixtures: Record<string, JsonObject[]>;
  faults: Faults;
  monitoring: MonitoringRegistrar;
}

const STACK_NAME = /^[a-zA-Z][a-zA-Z0-9_.-]{0,254}$/;

export class HeatEngine {
  readonly stacks: Stack[] = [];
  readonly counts = new Map<string, OpCounts>();
  private timers = new Set<NodeJS.Timeout>();

  constructor(readonly opts: EngineOptions) {}

  /** A live (not deleted) stack by name or id; deleted stacks are gone for look-ups. */
  lookup(nameOrId: string): Stack | undefined {
    return this.stacks.find((s) => !s.deleted && (s.name === nameOrId || s.id === nameOrId));
  }

  /** By name and id; a deleted stack is still shown (DELETE_COMPLETE), as Heat's show does. */
  get(name: string, id: string): Stack | undefined {
    return this.stacks.find((s) => s.id === id && s.name === name);
  }

  create(tenant: string, body: JsonObject): Stack {
    const name = body.stack_name;
    if (typeof name !== 'string' || !STACK_NAME.test(name)) {
      throw heatError(
        400,
        'HTTPBadRequest',
        `Invalid stack name ${text(name)} must contain only alphanumeric or "_-." characters, must start with alpha and must be 255 characters or less.`,
      );
    }
    const template = parseTemplate(body.template);
    const tags = parseTags(body.tags) ?? null;
    const id = crypto.randomUUID();
    const given = isObject(body.parameters) ? body.parameters : {};
    const params = typeParameters(template, given, {
      'OS::stack_name': name,
      'OS::stack_id': id,
      'OS::project_id': tenant,
    });
    if (this.lookup(name)) throw heatError(409, 'StackExists', `The Stack (${name}) already exists.`);
    const stack: Stack = {
      id,
      name,
      tenant,
      template,
      given,
      params,
      timeoutMins:
        typeof body.timeout_mins === 'number'
          ? body.timeout_mins
          : typeof body.timeout_mins === 'string'
            ? Number(body.timeout_mins) || undefined
            : undefined,
      disableRollback: body.disable_rollback !== false,
      action: 'CREATE',
      status: 'IN_PROGRESS',
      reason: 'Stack CREATE started',
      creationTime: isoSeconds(),
      updatedTime: null,
      deletionTime: null,
      resources: {},
      outputs: null,
      deleted: false,
      tags,
      generation: 0,
    };
    this.stacks.push(stack);
    this.count(name).creates += 1;
    this.run(stack, 'CREATE');
    return stack;
  }

  /** PUT replaces template and parameters; PATCH (`patch`) keeps what the body leaves out. */
  update(stack: Stack, body: JsonObject, patch: boolean): void {
    if (stack.status === 'IN_PROGRESS') {
      throw heatError(
        409,
        'ActionInProgress',
        `Stack ${stack.name} already has an action (${stack.action}) in progress.`,
      );
    }
    const template = body.template === undefined && patch ? stack.template : parseTemplate(body.template);
    const tags = parseTags(body.tags);
    const newParams = isObject(body.parameters) ? body.parameters : {};
    const given = patch ? { ...stack.given, ...newParams } : newParams;
    const params = typeParameters(template, given, {
      'OS::stack_name': stack.name,
      'OS::stack_id': stack.id,
      'OS::project_id': stack.tenant,
    });
    Object.assign(stack, {
      template,
      given,
      params,
      action: 'UPDATE',
      status: 'IN_PROGRESS',
      reason: 'Stack UPDATE started',
      updatedTime: isoSeconds(),
      // PUT replaces the tags (none given: none left); PATCH keeps them unless given.
      tags: tags === undefined ? (patch ? stack.tags : null) : tags,
    });
    if (body.timeout_mins !== undefined) stack.timeoutMins = Number(body.timeout_mins) || undefined;
    this.count(stack.name).updates += 1;
    this.run(stack, 'UPDATE');
  }

  delete(stack: Stack): void {
    if (stack.action === 'DELETE' && stack.status === 'IN_PROGRESS') {
      throw heatError(409, 'ActionInProgress', `Stack ${stack.name} already has an action (DELETE) in progress.`);
    }
    // Deleting a stack whose create/update is still running cancels that operation, as in Heat.
    // Heat's convergence engine (the default one) stamps updated_time when a delete starts too.
    Object.assign(stack, {
      action: 'DELETE',
      status: 'IN_PROGRESS',
      reason: 'Stack DELETE started',
      updatedTime: isoSeconds(),
    });
    this.count(stack.name).deletes += 1;
    this.run(stack, 'DELETE');
  }

  count(name: string): OpCounts {
    let c = this.counts.get(name);
    if (!c) this.counts.set(name, (c = { creates: 0, updates: 0, deletes: 0 }));
    return c;
  }

  reset(): void {
    this.stop();
    this.stacks.length = 0;
    this.counts.clear();
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private run(stack: Stack, action: Action): void {
    const gen = ++stack.generation;
    const op = action.toLowerCase() as FaultOp;
    const current = () => stack.generation === gen && stack.status === 'IN_PROGRESS';
    const faults = this.opts.faults;
    const hang = faults.take('hang', stack.name, op);
    const fail = hang ? undefined : faults.take('fail', stack.name, op);
    const slow = faults.take('slow', stack.name, op);
    if (stack.timeoutMins && action !== 'DELETE' && !hang?.endless) {
      this.later(stack.timeoutMins * this.opts.minuteMs, () => {
        if (current()) this.finish(stack, 'FAILED', 'Timed out');
      });
    }
    if (hang) return;
    this.later(this.opts.latencyMs + (slow?.ms ?? 0), () => {
      if (!current()) return;
      if (fail) {
        const first = Object.keys(stack.template.resources as JsonObject)[0];
        this.finish(
          stack,
          'FAILED',
          `Resource ${action} failed: ${fail.reason ?? `Error: resources.${first}: failure injected by the Heat simulator`}`,
        );
        return;
      }
      const work = action === 'DELETE' ? this.teardown(stack) : this.converge(stack);
      work.then(
        () => {
          if (!current()) return;
          if (action === 'DELETE') {
            Object.assign(stack, { deleted: true, deletionTime: isoSeconds(), resources: {} });
            this.finish(stack, 'COMPLETE', 'Stack DELETE completed successfully');
          } else {
            this.finish(
              stack,
              'COMPLETE',
              action === 'CREATE' ? 'Stack CREATE completed successfully' : 'Stack successfully updated',
            );
          }
        },
        (err: unknown) => {
          if (current()) this.finish(stack, 'FAILED', `Resource ${action} failed: ${(err as Error).message}`);
        },
      );
    });
  }

  private finish(stack: Stack, status: Status, reason: string): void {
    stack.status = status;
    stack.reason = reason;
  }

  /**
   * Brings the physical resources in line with the template: same name and type keeps its id
   * (update in place); a monitoring target whose properties changed is replaced (deleted and
   * registered again), which is how the record shows targets re-registered under a new version.
   */
  private async converge(stack: Stack): Promise<void> {
    const defs = stack.template.resources as JsonObject;
    const next: Record<string, PhysicalResource> = {};
    for (const [name, def] of Object.entries(defs)) {
      const type = text((def as JsonObject).type);
      const old = stack.resources[name];
      next[name] = old && old.type === type ? { ...old } : { type, id: crypto.randomUUID() };
    }
    const ev = this.evaluator(stack, next);
    for (const [name, r] of Object.entries(next)) {
      const explicit = r.type === MONITORING_TARGET ? undefined : explicitId(ev, name);
      if (explicit) r.id = explicit;
    }
    const replaced: string[] = [];
    for (const [name, r] of Object.entries(next)) {
      if (r.type !== MONITORING_TARGET) continue;
      const props = ev.properties(name);
      const old = stack.resources[name];
      if (old && old.type === MONITORING_TARGET && JSON.stringify(old.properties) === JSON.stringify(props)) continue;
      if (old && old.type === MONITORING_TARGET) replaced.push(old.id);
      const reg = await this.opts.monitoring.register(props);
      next[name] = { type: r.type, id: reg.id, link: reg.link, properties: props };
    }
    for (const [name, old] of Object.entries(stack.resources)) {
      if (old.type === MONITORING_TARGET && (!next[name] || next[name].type !== MONITORING_TARGET))
        replaced.push(old.id);
    }
    for (const id of replaced) await this.opts.monitoring.unregister(id);
    stack.resources = next;
    // A fixture for `<name>@version=<version parameter>` wins over one for the name: a replay
    // can give each version of a resource the outputs the record shows for it.
    const versioned =
      stack.given.version !== undefined
        ? this.opts.fixtures[`${stack.name}@version=${text(stack.given.version)}`]
        : undefined;
    stack.outputs = versioned ?? this.opts.fixtures[stack.name] ?? this.evaluator(stack, next).outputs();
  }

  private async teardown(stack: Stack): Promise<void> {
    for (const r of Object.values(stack.resources)) {
      if (r.type === MONITORING_TARGET) await this.opts.monitoring.unregister(r.id);
    }
  }

  private evaluator(stack: Stack, resources: Record<string, PhysicalResource>): Evaluator {
    return new Evaluator({
      template: stack.template,
      params: stack.params.values,
      resources,
      stackName: stack.name,
      projectName: this.opts.projectName,
    });
  }
}

/**
 * heat-api's `tags` body field: one string, tags separated by commas, each at most 80 characters
 * (heat.common.param_utils.extract_tags). Undefined when the body has none.
 */
function parseTags(v: unknown): string[] | null | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw heatError(400, 'HTTPBadRequest', `Invalid tags, not a string: ${text(v)}`);
  if (v === '') return null;
  const tags = v.split(',');
  const long = tags.find((t) => t.length > 80);
  if (long !== undefined) throw heatError(400, 'HTTPBadRequest', `Invalid tag, "${long}" is longer than 80 characters`);
  return tags;
}

/**
 * The id a template gives a resource itself: Contrail's resources take a `uuid` property (the
 * port and network templates pass the Gohan id), and Heat's physical id is then that uuid, so
 * `get_resource` and the `id` output are the resource's own key, as the record shows for networks.
 */
const ID_PROPERTIES = ['uuid'];

function explicitId(ev: Evaluator, name: string): string | undefined {
  let props: JsonObject;
  try {
    props = ev.properties(name);
  } catch {
    return undefined; // a property that cannot be resolved yet names no id
  }
  for (const p of ID_PROPERTIES) {
    const v = props[p];
    if (typeof v === 'string' && v.trim() !== '') return v;
  }
  return undefined;
}
