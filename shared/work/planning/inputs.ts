/**
 * The read side of planning one /config key, over the etcd Store or a snapshot (`esi plan --snapshot`):
 * reads what the plan needs, in rounds (./view.ts), and runs the pure planner; writes nothing.
 */
import { defaultJobKeys } from '../../jobs/job-keys';
import { pendingJobsOf } from '../../jobs/job-index';
import { referencingEntryKeys } from '../../jobs/referencing-index';
import { tryParseStoredJob } from '../../jobs/values';
import { parseConfigValue, versionOf, type ConfigValue } from '../../gohan/config-value';
import { HEAT_TEMPLATES_PREFIX, keys, parseConfigKey, TEMPLATE_MAPPINGS_KEY, type ResourcePath } from '../../keys';
import { defaultSchemaIndex, keyDeleteChange, PlanError, planChange, type PlanResult } from '../../planner';
import { readKeys, type Reader } from '../../store/read';
import type { KeyValue, RangeResult } from '../../store/store';
import { evaluateInRounds, LoadingView, templateMappings } from './view';
import { definedOnly } from '../../defined-only';
import { parseJsonObject } from '../../encoding/json-object';

export type Prepared =
  | { kind: 'skip'; note: string }
  /** The key is gone with nothing to tear down; `busy`: a chain of the resource still runs. */
  | { kind: 'deleted'; path: ResourcePath; mirror: KeyValue | undefined; busy: boolean }
  /** A PLAN_FAILED /state: the value or its resource type cannot be planned at all. */
  | { kind: 'unreadable'; path: ResourcePath; config: KeyValue; error: string; version: number | null }
  | {
      kind: 'planned';
      path: ResourcePath;
      resourceType: string;
      /** Undefined for a key delete's teardown (`value` is then the mirrored version marked deleted). */
      config: KeyValue | undefined;
      value: ConfigValue;
      mirror: KeyValue | undefined;
      /** The mirror already holds this version (`replan`). */
      alreadyPlanned: boolean;
      result: PlanResult;
      /** What the write fences on: the other /config keys and the mirrors read with unfinished jobs. */
      referenced: Map<string, KeyValue | undefined>;
      referencedMirrors: Map<string, KeyValue | undefined>;
      /** Referencing-index entries of this resource whose jobs are gone (the write drops them). */
      staleReferencing: string[];
    };

export type Planned = Extract<Prepared, { kind: 'planned' }>;

export interface PrepareOptions {
  randomSuffix?: () => string;
  /** Plans the resources the plan must wait for that are not planned yet, and names them (../planner.ts). */
  planFirst?: (result: PlanResult, referenced: Planned['referenced']) => Promise<{ type: string; id: string }[]>;
  /** Plan even when the mirror says this version was planned (`esi plan`). */
  replan?: boolean;
}

const mirroredValue = (kv: KeyValue | undefined): ConfigValue | undefined => {
  const v = parseJsonObject(kv?.value ?? '');
  if (!v.body || typeof v.body !== 'object' || typeof v.version !== 'number') return undefined;
  return { body: v.body as Record<string, unknown>, version: v.version, markedForDeletion: v.deleted === true };
};

export async function preparePlan(source: Reader, configKey: string, opts: PrepareOptions = {}): Promise<Prepared> {
  const path = parseConfigKey(configKey);
  if (!path) return { kind: 'skip', note: 'not a resource key' };
  if (configKey.startsWith(HEAT_TEMPLATES_PREFIX)) return { kind: 'skip', note: 'heat template: read when planning' };
  const read = await readKeys(source, { keys: [configKey, keys.mirror(path), TEMPLATE_MAPPINGS_KEY] });
  const [config, mirror, mappingsKv] = read.values;
  const previous = mirroredValue(mirror);
  const schema = defaultSchemaIndex();
  const resourceType = schema.singular(path.plural);
  const change = await changeOf(source, { path, configKey, config, mirror, resourceType, previous, opts });
  if ('kind' in change) return change;
  const { value, alreadyPlanned, type } = change;

  const mappings = templateMappings(mappingsKv);
  const view = new LoadingView(schema, { type, id: path.id, previous }, true);
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
  const plannedFirst = (await opts.planFirst?.(result, referenced())) ?? [];
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
    staleReferencing: view.referencing?.stale ?? [],
  };
}

/** The change a key's value stands for against the mirror, or why there is nothing to plan. */
async function changeOf(
  source: Reader,
  c: Pick<Planned, 'path' | 'config' | 'mirror'> & {
    configKey: string;
    resourceType: string | undefined;
    previous: ConfigValue | undefined;
    opts: PrepareOptions;
  },
): Promise<Prepared | { value: ConfigValue; alreadyPlanned: boolean; type: string }> {
  const { path, configKey, config, mirror, resourceType: type, previous } = c;
  if (!config) {
    if (!type) return { kind: 'deleted', path, mirror, busy: false };
    // A key delete of a resource the worker saw alive is planned as its teardown (docs/gohan.md).
    const teardown = keyDeleteChange(previous);
    if (teardown) return { value: teardown, alreadyPlanned: false, type };
    const pending = await pendingJobsOf(source, defaultJobKeys, [{ type, id: path.id }]);
    const busy = (pending.unfinished.get(`${type}\u0000${path.id}`)?.length ?? 0) > 0;
    return { kind: 'deleted', path, mirror, busy };
  }
  const rev = `revision ${config.modRevision}`;
  const parsed = parseConfigValue(config.value);
  if (!parsed.ok) {
    const error = `${parsed.error} at ${configKey} (${rev})`;
    return { kind: 'unreadable', path, config, error, version: versionOf(config.value) ?? null };
  }
  const value = parsed.value;
  if (!type) {
    const error = `unknown resource type: no Gohan schema has the plural "${path.plural}" at ${configKey} (${rev}, version ${value.version})`;
    return { kind: 'unreadable', path, config, error, version: value.version };
  }
  const alreadyPlanned = previous?.version === value.version && previous.markedForDeletion === value.markedForDeletion;
  if (!c.opts.replan) {
    if (previous && previous.version > value.version)
      return { kind: 'skip', note: `older than the mirrored version ${previous.version}` };
    if (alreadyPlanned) return { kind: 'skip', note: `version ${value.version} already planned` };
  }
  return { value, alreadyPlanned, type };
}

/**
 * An in-memory Reader: `{ "<etcd key>": <value parsed as JSON, or raw text> }`, all at revision 1, with
 * the referencing-index entries of its /jobs/all values added (a snapshot of the original etcd has none).
 */
export class SnapshotSource implements Reader {
  private readonly kvs = new Map<string, KeyValue>();

  constructor(snapshot: Record<string, unknown>) {
    for (const [key, v] of Object.entries(snapshot)) this.set(key, typeof v === 'string' ? v : JSON.stringify(v));
    for (const key of this.derivedIndexKeys()) if (!this.kvs.has(key)) this.set(key, '');
  }

  private set(key: string, value: string): void {
    this.kvs.set(key, { key, value, modRevision: 1, createRevision: 1, version: 1 });
  }

  private derivedIndexKeys(): string[] {
    return [...this.kvs.values()]
      .filter((kv) => kv.key.startsWith(defaultJobKeys.prefix('all')))
      .flatMap((kv) => {
        // Not a job value: the live planner reads none either.
        const job = tryParseStoredJob(kv.key, kv.value)?.job;
        return job && Array.isArray(job.params) ? referencingEntryKeys(defaultJobKeys, job) : [];
      });
  }

  range(prefix: string): Promise<RangeResult> {
    const items = [...this.kvs.values()]
      .filter((kv) => kv.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return Promise.resolve({ items, revision: 1 });
  }
}
