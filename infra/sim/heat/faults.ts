/**
 * Fault injection for the Heat simulator, selected by a regular expression on the stack name.
 * Rules come from the start options, from a JSON file, or at run time from POST /_sim/faults.
 *
 *   fail        the operation is accepted, then ends in <OP>_FAILED with `reason`
 *   hang        the operation stays <OP>_IN_PROGRESS; it ends in <OP>_FAILED "Timed out" only
 *               once the stack's timeout_mins elapses (scaled by the simulator's minuteMs); with
 *               `endless: true` never (a Heat engine that died mid-operation)
 *   http_error  the HTTP call answers `status` (default 503) `times` times (default 1), then the
 *               rule is spent; with `committed: true` the operation is applied before the error
 *               is returned (the client cannot tell whether it happened)
 *   latency     the HTTP answer is delayed by `ms`; with `committed: true` the operation is applied
 *               at once and only the answer is late (a create answered after the client's timeout)
 *   slow        the operation stays in progress `ms` longer than the configured latency
 */
import fs from 'node:fs';
import { isObject, type Json, type JsonObject } from '../http-util';

export type FaultMode = 'fail' | 'hang' | 'http_error' | 'latency' | 'slow';
/** show covers every GET on the stack (look-up, show, outputs). */
export type FaultOp = 'create' | 'update' | 'delete' | 'show';

export interface FaultSpec {
  /** Regular expression matched against the stack name (unanchored, like `RegExp.test`). */
  match: string;
  mode: FaultMode;
  /** Operations the rule applies to; default: create and update (show too for latency/http_error). */
  ops?: FaultOp[];
  reason?: string;
  status?: number;
  /** How many times the rule fires before it is spent; default 1 for http_error, unlimited otherwise. */
  times?: number;
  ms?: number;
  committed?: boolean;
  endless?: boolean;
}

export interface FaultRule extends FaultSpec {
  id: string;
  fired: number;
}

const MODES: FaultMode[] = ['fail', 'hang', 'http_error', 'latency', 'slow'];
const OPS: FaultOp[] = ['create', 'update', 'delete', 'show'];

/** Validates a rule as given in JSON; throws a readable message on a bad one. */
export function parseFault(v: Json): FaultSpec {
  if (!isObject(v)) throw new Error('a fault must be an object');
  const { match, mode } = v;
  if (typeof match !== 'string') throw new Error('fault.match must be a regular expression string');
  new RegExp(match);
  if (typeof mode !== 'string' || !MODES.includes(mode as FaultMode))
    throw new Error(`fault.mode must be one of ${MODES.join(', ')}`);
  const spec: FaultSpec = { match, mode: mode as FaultMode };
  if (v.ops !== undefined) {
    if (!Array.isArray(v.ops) || !v.ops.every((o) => OPS.includes(o as FaultOp)))
      throw new Error(`fault.ops must list some of ${OPS.join(', ')}`);
    spec.ops = v.ops as FaultOp[];
  }
  if (typeof v.reason === 'string') spec.reason = v.reason;
  if (typeof v.status === 'number') spec.status = v.status;
  if (typeof v.times === 'number') spec.times = v.times;
  if (typeof v.ms === 'number') spec.ms = v.ms;
  if (typeof v.committed === 'boolean') spec.committed = v.committed;
  if (typeof v.endless === 'boolean') spec.endless = v.endless;
  return spec;
}

/** Reads `[rule, ...]` or `{faults: [rule, ...]}` from a JSON file. */
export function loadFaultsFile(file: string): FaultSpec[] {
  const data = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
  const list = Array.isArray(data) ? data : isObject(data) && Array.isArray(data.faults) ? data.faults : undefined;
  if (!list) throw new Error(`${file}: expected a JSON list of faults or {"faults": [...]}`);
  return list.map(parseFault);
}

export class Faults {
  private rules: FaultRule[] = [];
  private seq = 0;

  add(spec: FaultSpec): FaultRule {
    const rule: FaultRule = { ...spec, id: `fault-${++this.seq}`, fired: 0 };
    this.rules.push(rule);
    return rule;
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length !== before;
  }

  clear(): void {
    this.rules = [];
  }

  list(): JsonObject[] {
    return this.rules.map((r) => ({ ...r }));
  }

  /**
   * The first live rule of `mode` for this stack and operation; counts as fired. Rules are
   * consumed in the order they were added, so two rules can script a sequence.
   */
  take(mode: FaultMode, stackName: string, op: FaultOp): FaultRule | undefined {
    const rule = this.rules.find(
      (r) => r.mode === mode && this.applies(r, op) && this.live(r) && new RegExp(r.match).test(stackName),
    );
    if (rule) rule.fired += 1;
    return rule;
  }

  private applies(r: FaultRule, op: FaultOp): boolean {
    const defaults: FaultOp[] =
      r.mode === 'latency' || r.mode === 'http_error' ? ['create', 'update', 'delete', 'show'] : ['create', 'update'];
    return (r.ops ?? defaults).includes(op);
  }

  private live(r: FaultRule): boolean {
    const times = r.times ?? (r.mode === 'http_error' ? 1 : Infinity);
    return r.fired < times;
  }
}
