/**
 * Strict comparison of a replay's final /state and /monitoring with the recorded ones. Pure.
 *
 * Every field of both values is compared and every difference listed (never the first only).
 * heat_outputs are compared by value when the Heat simulator was given the recorded outputs
 * (the scenario's heat_outputs fixtures), else by their output keys. A difference the seeds make
 * on purpose, or one the scenario cannot reproduce, is kept in the list with its reason
 * (`named`); a resource matches when it has no difference without a reason.
 */
import { isDeepStrictEqual } from 'node:util';
import type { CollectorStatus, StateDoc } from './scenario';

export interface Difference {
  field: string;
  expected: unknown;
  actual: unknown;
  /** Why this difference is expected; absent: a real difference. */
  named?: string;
}

export interface ResourceCheck {
  key: string;
  kind: 'state' | 'monitoring';
  /** No difference without a reason. */
  ok: boolean;
  expected: string;
  actual: string;
  differences: Difference[];
}

export interface StateContext {
  /** The scenario gave the simulator this resource's recorded outputs: compare them by value. */
  outputsByValue: boolean;
  /**
   * The jobs played for the version the resource's /state reports (`action:handler`), when the
   * replay recorded them: seed 004's allowance depends on them.
   */
  chain?: string[];
}

const ABSENT = '(absent)';
const show = (v: unknown) => (v === undefined ? ABSENT : v);

function outputs(text: unknown): { byValue: unknown; keys: string[] | undefined } {
  if (typeof text !== 'string') return { byValue: text, keys: undefined };
  try {
    const list = JSON.parse(text) as { output_key?: string }[];
    return { byValue: list, keys: Array.isArray(list) ? list.map((o) => String(o.output_key)).sort() : undefined };
  } catch {
    return { byValue: text, keys: undefined };
  }
}

/** Seed 004's chain for a gw-interface port's modify, as planned (any order). */
const SEED_004_CHAIN = ['delete:monitoring_worker', 'modify:heat_worker', 'create:monitoring_worker'];

/** The jobs played were seed 004's three-job chain: monitoring delete, heat modify, monitoring create. */
export const isSeed004Chain = (chain: string[] | undefined): boolean =>
  chain !== undefined && isDeepStrictEqual([...chain].sort(), [...SEED_004_CHAIN].sort());

/** Seed 004: a gw-interface port's modify is a three-job chain ending with the monitoring create. */
const SEED_004 =
  "seed 004: a gw-interface port's chain (monitoring delete, heat modify, monitoring create) ends with the monitoring create, so it reports CREATE and carries the monitoring job's state; the record's single heat modify reported MODIFY";

function namedStateDifference(
  field: string,
  expected: unknown,
  actual: unknown,
  ctx: StateContext,
): string | undefined {
  if (!isSeed004Chain(ctx.chain)) return undefined;
  if (field === 'state.worker_state' && expected === 'MODIFY_COMPLETED' && actual === 'CREATE_COMPLETED')
    return SEED_004;
  if (field === 'state.state_monitoring' && expected === undefined) return SEED_004;
  return undefined;
}

const summaryOf = (d: StateDoc | undefined) =>
  d ? `${String(d.state?.worker_state)} v${String(d.version)}` : '(none)';

export function compareState(
  key: string,
  expected: StateDoc,
  actual: StateDoc | undefined,
  ctx: StateContext,
): ResourceCheck {
  const differences: Difference[] = [];
  const add = (field: string, e: unknown, a: unknown) => {
    const named = namedStateDifference(field, e, a, ctx);
    differences.push({ field, expected: show(e), actual: show(a), ...(named ? { named } : {}) });
  };
  if (!actual) add('/state', expected, undefined);
  else {
    for (const field of ['version', 'error'] as const)
      if (!isDeepStrictEqual(actual[field], expected[field])) add(field, expected[field], actual[field]);
    for (const k of Object.keys(actual).filter((f) => !['version', 'error', 'state'].includes(f)))
      add(k, undefined, (actual as unknown as Record<string, unknown>)[k]);
    const e = expected.state ?? {};
    const a = actual.state ?? {};
    for (const field of [...new Set([...Object.keys(e), ...Object.keys(a)])]) {
      if (field === 'heat_outputs' && e[field] !== undefined && a[field] !== undefined) {
        const [eo, ao] = [outputs(e[field]), outputs(a[field])];
        if (ctx.outputsByValue) {
          if (!isDeepStrictEqual(eo.byValue, ao.byValue)) add('state.heat_outputs', eo.byValue, ao.byValue);
        } else if (!isDeepStrictEqual(eo.keys, ao.keys)) add('state.heat_outputs (output keys)', eo.keys, ao.keys);
      } else if (!isDeepStrictEqual(a[field], e[field])) add(`state.${field}`, e[field], a[field]);
    }
  }
  return resourceCheck(key, 'state', summaryOf(expected), summaryOf(actual), differences);
}

/** A resource's check: it matches when every difference is one the scenario names. */
const resourceCheck = (
  key: string,
  kind: ResourceCheck['kind'],
  expected: string,
  actual: string,
  differences: Difference[],
): ResourceCheck => ({ key, kind, ok: differences.every((d) => d.named), expected, actual, differences });

const NOT_SET = 'a recorded collector status the scenario does not set';

/** `expected` null: the record ends with the key deleted. */
export function compareMonitoring(
  key: string,
  expected: Record<string, unknown> | null,
  actual: Record<string, unknown> | undefined,
  statuses: CollectorStatus[],
): ResourceCheck {
  const differences: Difference[] = [];
  const parts = key.split('/');
  const [plural, id] = [parts[parts.length - 2], parts[parts.length - 1]];
  const set = (field: string, version: unknown) =>
    statuses.some(
      (s) =>
        s.resource_id === id &&
        s.resource_type === plural &&
        s.field === field &&
        (s.version === undefined || s.version === version),
    );
  if (expected === null) {
    if (actual !== undefined) differences.push({ field: '/monitoring', expected: ABSENT, actual });
  } else if (actual === undefined) {
    const fields = Object.keys(expected).filter((f) => f !== 'version');
    const named = fields.every((f) => !set(f, expected.version)) ? NOT_SET : undefined;
    differences.push({ field: '/monitoring', expected, actual: ABSENT, ...(named ? { named } : {}) });
  } else {
    for (const field of [...new Set([...Object.keys(expected), ...Object.keys(actual)])]) {
      if (isDeepStrictEqual(expected[field], actual[field])) continue;
      const named = field !== 'version' && !set(field, expected.version) ? NOT_SET : undefined;
      differences.push({
        field,
        expected: show(expected[field]),
        actual: show(actual[field]),
        ...(named ? { named } : {}),
      });
    }
  }
  const text = (v: unknown) => (v === undefined ? '(none)' : v === null ? '(deleted)' : JSON.stringify(v));
  return resourceCheck(key, 'monitoring', text(expected), text(actual), differences);
}

/** Fields a burst may not change: the resource still ends at its last version with the recorded outcome. */
const OUTCOME_FIELDS = new Set(['/state', 'version', 'error', 'state.worker_state']);

const BURST =
  'burst: the writes came back to back, so the planner planned the latest version it found (it plans what /config holds, ' +
  'not every message) and the earlier versions never ran; the stack went straight to that version (e.g. a create where ' +
  'the record updated the stack of the version before)';

/**
 * A state check of a burst replay, for a resource the scenario writes more than once: a
 * difference outside the outcome (version, error, worker_state) is named as the burst's.
 */
export function asBurst(check: ResourceCheck, writtenMoreThanOnce: boolean): ResourceCheck {
  if (check.kind !== 'state' || !writtenMoreThanOnce) return check;
  const differences = check.differences.map((d) =>
    d.named || OUTCOME_FIELDS.has(d.field) ? d : { ...d, named: BURST },
  );
  return { ...check, differences, ok: differences.every((d) => d.named) };
}
