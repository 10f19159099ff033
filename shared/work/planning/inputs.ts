/**
 * The read side of planning one /config key: reads the key, the worker's mirror, the unfinished
 * jobs, the referenced resources, the heat templates and template_mappings, and runs the pure
 * planner over them. Writes nothing: the planner handler (../planner.ts) turns the result into one
 * guarded transaction, and `esi plan` prints it.
 *
 * The source is anything with get/range: the etcd Store, or a snapshot (an in-memory map standing
 * in for etcd, `esi plan --snapshot`). Both go through the same code.
 *
 * PlanningView is synchronous, so the referenced resources and the templates are loaded in rounds
 * (./view.ts; one round per foreign-key hop depth, usually 1–3). Reads are bounded by the change, never by the backlog: the key, its mirror and the
 * template_mappings override (one read), then per round one read of the referenced resources and
 * selected templates it asked for, and beside it the unfinished jobs of the resources it asked
 * about and (first round) the unfinished jobs referencing the planned resource: one request of
 * keys-only ranges (their job ids' prefixes, the referencing index), then one keys-only read of
 * the found jobs' keys (shared/jobs/job-index.ts `pendingJobsOf`).
 * On etcd each such read is one read-only transaction (one round trip, one revision).
 */
import { defaultJobKeys } from '../../jobs/job-keys';
import { pendingJobsOf } from '../../jobs/job-index';
import { parseConfigValue, versionOf, type ConfigValue } from '../../gohan/config-value';
import { HEAT_TEMPLATES_PREFIX, keys, parseConfigKey, TEMPLATE_MAPPINGS_KEY, type ResourcePath } from '../../keys';
import { defaultSchemaIndex, keyDeleteChange, PlanError, planChange, type PlanResult } from '../../planner';
import type { Reader } from '../../store/read';
import type { KeyValue } from '../../store/store';
import { shipped, templateMappings } from './templates';
import { evaluateInRounds, LoadingView, readInOrder } from './view';
import { definedOnly } from '../../defined-only';

export { SnapshotSource } from './snapshot';

export type Prepared =
  /** Nothing to plan: not a resource key, a heat template, or already planned. */
  | { kind: 'skip'; note: string }
  /**
   * Gohan deleted the key and there is nothing to tear down (docs/planner.md): the worker's keys
   * go, unless a chain of the resource is still running (`busy`: its aggregation removes them).
   */
  | { kind: 'deleted'; path: ResourcePath; configKey: string; mirror: KeyValue | undefined; busy: boolean }
  /** The value (or its resource type) cannot be planned at all: a PLAN_FAILED /state. */
  | { kind: 'unreadable'; path: ResourcePath; config: KeyValue; error: string; version: number | null }
  | {
      kind: 'planned';
      path: ResourcePath;
      resourceType: string;
      /** Undefined for a key delete's teardown (`value` is then the mirrored version marked deleted). */
      config: KeyValue | undefined;
      value: ConfigValue;
      mirror: KeyValue | undefined;
      /** The mirror already holds this version (only when `replan` asked to plan anyway). */
      alreadyPlanned: boolean;
      result: PlanResult;
      /** Every other /config key the plan read, as read (undefined = absent): the write fences on them. */
      referenced: Map<string, KeyValue | undefined>;
      /** The mirrors of the referenced resources whose unfinished jobs the plan read (the plan fences on them). */
      referencedMirrors: Map<string, KeyValue | undefined>;
      /** Referencing-index entries of this resource whose jobs are gone (the write drops them). */
      staleReferencing: string[];
    };

export interface PrepareOptions {
  randomSuffix?: () => string;
  /**
   * Called with the plan before it is returned: plans the resources it must wait for that are not
   * planned yet (planner.ts) and names them; their unfinished jobs are then read again and the plan
   * re-evaluated over the inputs already read.
   */
  planFirst?: (p: {
    result: PlanResult;
    resourceType: string;
    path: ResourcePath;
    referenced: Map<string, KeyValue | undefined>;
  }) => Promise<{ type: string; id: string }[]>;
  /** Plan even when the mirror says this version was planned (`esi plan`). */
  replan?: boolean;
  /** Shipped templates root (tests, `esi plan --templates`); default templates/. */
  templatesRoot?: string;
}

const mirroredValue = (kv: KeyValue | undefined): ConfigValue | undefined => {
  if (!kv) return undefined;
  try {
    const v = JSON.parse(kv.value) as { body?: unknown; deleted?: unknown; version?: unknown };
    if (!v.body || typeof v.body !== 'object' || typeof v.version !== 'number') return undefined;
    return { body: v.body as Record<string, unknown>, version: v.version, markedForDeletion: v.deleted === true };
  } catch {
    return undefined;
  }
};

export async function preparePlan(source: Reader, configKey: string, opts: PrepareOptions = {}): Promise<Prepared> {
  const path = parseConfigKey(configKey);
  if (!path) return { kind: 'skip', note: 'not a resource key' };
  if (configKey.startsWith(HEAT_TEMPLATES_PREFIX)) return { kind: 'skip', note: 'heat template: read when planning' };

  const mirrorKey = keys.mirror(path);
  const [config, mirror, mappingsKv] = await readInOrder(source, [configKey, mirrorKey, TEMPLATE_MAPPINGS_KEY]);
  const schema = defaultSchemaIndex();
  const resourceType = schema.singular(path.plural);
  const previous = mirroredValue(mirror);
  const change = await changeOf(source, { path, configKey, config, mirror, resourceType, previous }, opts);
  if ('kind' in change) return change;
  const { value, alreadyPlanned, type } = change;

  const mappings = templateMappings(mappingsKv, opts.templatesRoot);
  const view = new LoadingView(schema, { type, id: path.id, previous }, true, shipped(opts.templatesRoot).templates);
  const ownKey = view.configKey(type, path.id);
  if (ownKey) view.configs.set(ownKey, config);

  const templates = view.templateRecord();
  const evaluate = async (): Promise<PlanResult> =>
    mappings instanceof PlanError
      ? { kind: 'error', error: mappings }
      : evaluateInRounds(view, source, `planning ${configKey}`, () =>
          planChange({
            resourceType: type,
            resourceId: path.id,
            value: config ? value : undefined,
            templates,
            templateMappings: mappings,
            view,
            schema,
            ...definedOnly({ randomSuffix: opts.randomSuffix }),
          }),
        );
  const referenced = () => new Map([...view.configs].filter(([key]) => key !== ownKey));
  let result = await evaluate();
  const plannedFirst = (await opts.planFirst?.({ result, resourceType: type, path, referenced: referenced() })) ?? [];
  if (plannedFirst.length) {
    view.reloadPending(plannedFirst);
    await view.load(source);
    result = await evaluate();
  }
  return {
    kind: 'planned',
    path,
    resourceType: type,
    config,
    value,
    mirror,
    alreadyPlanned,
    result,
    referenced: referenced(),
    referencedMirrors: view.pendingMirrors,
    staleReferencing: view.staleReferencing,
  };
}

interface ChangeInputs {
  path: ResourcePath;
  configKey: string;
  config: KeyValue | undefined;
  mirror: KeyValue | undefined;
  resourceType: string | undefined;
  previous: ConfigValue | undefined;
}

/**
 * The change a key's current value stands for, against what the worker last planned (its mirror):
 * the value to plan and whether that version was planned already, or why there is nothing to plan.
 */
async function changeOf(
  source: Reader,
  { path, configKey, config, mirror, resourceType, previous }: ChangeInputs,
  opts: PrepareOptions,
): Promise<Prepared | { value: ConfigValue; alreadyPlanned: boolean; type: string }> {
  if (!config) {
    // A key delete of a resource the worker saw alive is planned as its teardown (docs/gohan.md).
    const teardown = resourceType ? keyDeleteChange(previous) : undefined;
    if (teardown && resourceType) return { value: teardown, alreadyPlanned: false, type: resourceType };
    const busy = resourceType
      ? ((await pendingJobsOf(source, defaultJobKeys, [{ type: resourceType, id: path.id }]).then(
          (p) => p.unfinished.get(`${resourceType}\u0000${path.id}`)?.length,
        )) ?? 0) > 0
      : false;
    return { kind: 'deleted', path, configKey, mirror, busy };
  }
  const parsed = parseConfigValue(config.value);
  if (!parsed.ok)
    return {
      kind: 'unreadable',
      path,
      config,
      error: `${parsed.error} at ${configKey} (revision ${config.modRevision})`,
      version: versionOf(config.value) ?? null,
    };
  const value = parsed.value;
  if (!resourceType) {
    return {
      kind: 'unreadable',
      path,
      config,
      error: `unknown resource type: no Gohan schema has the plural "${path.plural}" at ${configKey} (revision ${config.modRevision}, version ${value.version})`,
      version: value.version,
    };
  }
  const alreadyPlanned =
    previous !== undefined &&
    previous.version === value.version &&
    previous.markedForDeletion === value.markedForDeletion;
  if (!opts.replan) {
    if (previous && previous.version > value.version)
      return { kind: 'skip', note: `older than the mirrored version ${previous.version}` };
    if (alreadyPlanned) return { kind: 'skip', note: `version ${value.version} already planned` };
  }
  return { value, alreadyPlanned, type: resourceType };
}
