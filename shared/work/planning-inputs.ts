/**
 * The read side of planning one /config key: reads the key, the worker's mirror, the unfinished
 * jobs, the referenced resources, the heat templates and template_mappings, and runs the pure
 * planner over them. Writes nothing: the planner handler (./planner.ts) turns the result into one
 * guarded transaction, and `esi plan` prints it.
 *
 * The source is anything with get/range: the etcd Store, or a snapshot (an in-memory map standing
 * in for etcd, `esi plan --snapshot`). Both go through the same code.
 *
 * PlanningView is synchronous, so the referenced resources and the templates are loaded in rounds:
 * the planner runs against what is loaded so far, every key it asked for and did not find is
 * fetched, and it runs again, until it asks for nothing new (one round per foreign-key hop depth,
 * usually 1–3). Reads are bounded by the change, never by the backlog: the key, its mirror and the
 * template_mappings override (one read), then per round one read of the referenced resources and
 * selected templates it asked for, and beside it the unfinished jobs of the resources it asked
 * about and (first round) the unfinished jobs referencing the planned resource: one request of
 * keys-only ranges (their job ids' prefixes, the referencing index), then one keys-only read of
 * the found jobs' keys (shared/jobs/job-index.ts `pendingJobsOf`).
 * On etcd each such read is one read-only transaction (one round trip, one revision).
 */
import YAML from 'yaml';
import { defaultJobKeys, type JobKeys } from '../jobs/job-keys';
import { referencingEntryKeys } from '../jobs/referencing-index';
import { parseStoredJob } from '../jobs/values';
import { pendingJobsOf } from '../jobs/job-index';
import { parseConfigValue, versionOf, type ConfigValue } from '../gohan/config-value';
import {
  CONFIG_PREFIX,
  HEAT_TEMPLATES_PREFIX,
  keys,
  parseConfigKey,
  TEMPLATE_MAPPINGS_KEY,
  type ResourcePath,
} from '../keys';
import {
  defaultSchemaIndex,
  keyDeleteChange,
  PlanError,
  planChange,
  parseTemplateMappings,
  type HeatTemplate,
  type Job,
  type PlanningView,
  type PlanResult,
  type SchemaIndex,
  type TemplateMappings,
} from '../planner';
import { readKeys, type Reader } from '../store/read';
import type { KeyValue, RangeResult } from '../store/store';
import { loadTemplates, toHeatTemplate } from '../templates/load';

/** Reads several keys (shared/store/read.ts), in order. */
const readInOrder = async (source: Reader, keyList: string[]): Promise<(KeyValue | undefined)[]> =>
  (await readKeys(source, { keys: keyList })).values;

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

/** Foreign-key hops a mapping may take before its evaluation is given up. */
const MAX_HOP_ROUNDS = 16;

// ---- shipped templates and the etcd overrides, cached per process ---------------------------

export interface Shipped {
  templates: Record<string, HeatTemplate>;
  mappings: TemplateMappings;
}
const shippedCache = new Map<string, Shipped>();

/** The shipped templates and template_mappings (cached per process); also read by the job handlers (job-template.ts). */
export function shipped(root: string | undefined): Shipped {
  const k = root ?? '';
  let s = shippedCache.get(k);
  if (!s) {
    const loaded = loadTemplates(root);
    if (!loaded.templateMappings) throw new Error(`${root ?? 'templates'}/template_mappings.yaml is missing`);
    s = { templates: loaded.templates, mappings: parseTemplateMappings(loaded.templateMappings) };
    shippedCache.set(k, s);
  }
  return s;
}

/** Parsed etcd values, reused while the key's mod revision is the same. */
const parsedTemplates = new Map<string, { modRevision: number; parsed: HeatTemplate | PlanError | undefined }>();
let parsedMappings: { modRevision: number; parsed: TemplateMappings | PlanError } | undefined;

/** A heat template value from etcd: a Gohan config value whose body is the template. */
export function parseEtcdTemplate(id: string, kv: KeyValue): HeatTemplate | PlanError | undefined {
  const cached = parsedTemplates.get(kv.key);
  if (cached?.modRevision === kv.modRevision) return cached.parsed;
  let parsed: HeatTemplate | PlanError | undefined;
  const v = parseConfigValue(kv.value);
  if (!v.ok)
    parsed = new PlanError(`heat template "${id}" at ${kv.key} (revision ${kv.modRevision}) is unreadable: ${v.error}`);
  else if (v.value.markedForDeletion)
    parsed = undefined; // being deleted by Gohan: the shipped one (if any) applies
  else {
    try {
      parsed = toHeatTemplate(v.value.body, kv.key, id);
    } catch (e) {
      parsed = new PlanError(
        `heat template "${id}" at ${kv.key} (revision ${kv.modRevision}) is invalid: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  parsedTemplates.set(kv.key, { modRevision: kv.modRevision, parsed });
  return parsed;
}

export function templateMappings(kv: KeyValue | undefined, root: string | undefined): TemplateMappings | PlanError {
  if (!kv) return shipped(root).mappings;
  if (parsedMappings?.modRevision === kv.modRevision) return parsedMappings.parsed;
  let parsed: TemplateMappings | PlanError;
  try {
    parsed = parseTemplateMappings(YAML.parse(kv.value));
  } catch (e) {
    parsed = new PlanError(
      `template_mappings override at ${TEMPLATE_MAPPINGS_KEY} (revision ${kv.modRevision}) is invalid: ${(e as Error).message}`,
      { cause: e },
    );
  }
  parsedMappings = { modRevision: kv.modRevision, parsed };
  return parsed;
}

// ---- the view ---------------------------------------------------------------------------------

/** PlanningView over what has been loaded so far; records what the planner asked for and missed. */
export class LoadingView implements PlanningView {
  readonly configs = new Map<string, KeyValue | undefined>();
  readonly templates = new Map<string, HeatTemplate | PlanError | undefined>();
  readonly missingConfigs = new Set<string>();
  readonly missingTemplates = new Set<string>();
  /** Unfinished job ids by `<type>\0<id>`, loaded by the resources' job id prefixes. */
  private readonly pending = new Map<string, string[]>();
  private readonly missingPending = new Map<string, { type: string; id: string }>();
  /**
   * The mirrors of the other resources whose unfinished jobs were read, as read just before those
   * jobs. A resource's plan writes its jobs and its mirror in one transaction, so a plan fenced on
   * these mirrors cannot miss jobs planned after its read (docs/planner.md, "Fences").
   */
  readonly pendingMirrors = new Map<string, KeyValue | undefined>();
  /** The unfinished jobs referencing the planned resource (loaded with the first round when planning). */
  private referencing: string[] | undefined;
  /** Referencing-index entries of the planned resource whose jobs are gone: the plan's write drops them. */
  staleReferencing: string[] = [];

  /** `loadPending`: whether pendingJobs is answered (planning) or always empty (choosing a template). */
  constructor(
    private readonly schema: SchemaIndex,
    private readonly self: { type: string; id: string; previous: ConfigValue | undefined },
    private readonly loadPending: boolean,
    private readonly shippedTemplates: Record<string, HeatTemplate>,
  ) {
    this.wantPending(self.type, self.id);
  }

  /**
   * Asks for a resource's unfinished jobs in the next load. A resource whose config is loaded is
   * asked for too: the planner asks for the unfinished jobs of what the params reference, so
   * reading both together saves a round.
   */
  private wantPending(type: string, id: string): void {
    const k = `${type}\u0000${id}`;
    if (this.loadPending && !this.pending.has(k)) this.missingPending.set(k, { type, id });
  }

  /** Reads these resources' unfinished jobs (and mirrors) again in the next load: they were planned meanwhile. */
  reloadPending(resources: { type: string; id: string }[]): void {
    for (const { type, id } of resources) {
      this.pending.delete(`${type}\u0000${id}`);
      this.wantPending(type, id);
    }
  }

  configKey(type: string, id: string): string | undefined {
    const prefix = this.schema.prefix(type);
    return prefix ? `${CONFIG_PREFIX.slice(0, -1)}${prefix}/${id}` : undefined;
  }

  resource(type: string, id: string): ConfigValue | undefined {
    const key = this.configKey(type, id);
    if (!key) return undefined;
    if (!this.configs.has(key)) {
      this.missingConfigs.add(key);
      this.wantPending(type, id);
      return undefined;
    }
    const kv = this.configs.get(key);
    if (!kv) return undefined;
    const v = parseConfigValue(kv.value);
    if (!v.ok)
      throw new PlanError(`referenced ${type} ${id} at ${key} (revision ${kv.modRevision}) is unreadable: ${v.error}`);
    return v.value;
  }

  /** Only the planned resource has a "previous" (its mirror); the planner asks for no other. */
  previous(type: string, id: string): ConfigValue | undefined {
    return type === this.self.type && id === this.self.id ? this.self.previous : undefined;
  }

  pendingJobs(type: string, id: string): string[] {
    const known = this.pending.get(`${type}\u0000${id}`);
    if (!known) this.wantPending(type, id);
    return known ?? [];
  }

  /** Only the planned resource is asked about (the planner asks for no other). */
  referencingPendingJobs(type: string, id: string): string[] {
    if (type !== this.self.type || id !== this.self.id) return [];
    return this.referencing ?? [];
  }

  /** The `templates` the planner indexes: etcd's value where there is one, else the shipped one. */
  templateRecord(): Readonly<Record<string, HeatTemplate>> {
    return new Proxy(
      {},
      {
        get: (_target, id) => {
          if (typeof id !== 'string') return undefined;
          if (!this.templates.has(id)) {
            this.missingTemplates.add(id);
            return undefined;
          }
          const t = this.templates.get(id);
          if (t instanceof PlanError) throw t;
          return t;
        },
      },
    );
  }

  async load(source: Reader): Promise<boolean> {
    const configs = [...this.missingConfigs];
    const templates = [...this.missingTemplates];
    const pending = [...this.missingPending.values()];
    this.missingConfigs.clear();
    this.missingTemplates.clear();
    this.missingPending.clear();
    const loadReferencing = this.loadPending && this.referencing === undefined;
    if (!configs.length && !templates.length && !pending.length && !loadReferencing) return false;
    // The mirrors with (never after) the jobs: read at one revision with the jobs' ranges (or
    // before them), a plan of one of these resources that commits after fails this plan's fence
    // on its mirror; one that committed before is in the jobs read.
    const mirrorKeys = pending
      .filter(({ type, id }) => type !== this.self.type || id !== this.self.id)
      .flatMap(({ type, id }) => {
        const key = this.configKey(type, id);
        const path = key ? parseConfigKey(key) : undefined;
        return path ? [keys.mirror(path)] : [];
      });
    const toGet = [...configs, ...templates.map((id) => keys.heatTemplate(id)), ...mirrorKeys];
    // The keys are read in the jobs' first request when there is one.
    const jobs =
      pending.length || loadReferencing
        ? await pendingJobsOf(source, defaultJobKeys, pending, {
            referenced: loadReferencing ? this.self : undefined,
            alsoRead: toGet,
          })
        : undefined;
    const fetched = jobs ? jobs.read : await readInOrder(source, toGet);
    const got = fetched.slice(0, fetched.length - mirrorKeys.length);
    mirrorKeys.forEach((key, i) => this.pendingMirrors.set(key, fetched[got.length + i]));
    for (const [k, ids] of jobs?.unfinished ?? []) this.pending.set(k, ids);
    if (jobs?.referencing) {
      this.referencing = jobs.referencing.unfinished;
      this.staleReferencing = jobs.referencing.stale;
    }
    configs.forEach((key, i) => this.configs.set(key, got[i]));
    templates.forEach((id, i) => {
      const kv = got[configs.length + i];
      const fromEtcd = kv ? parseEtcdTemplate(id, kv) : undefined;
      this.templates.set(
        id,
        fromEtcd ??
          (Object.prototype.hasOwnProperty.call(this.shippedTemplates, id) ? this.shippedTemplates[id] : undefined),
      );
    });
    return true;
  }
}

/**
 * Runs `evaluate` against what the view has loaded, loads every key it asked for and missed, and
 * runs it again, until it asks for nothing new (one round per foreign-key hop depth). An error of
 * a round that still had keys to load is not final; the last round's result or error is.
 */
export async function evaluateInRounds<T>(
  view: LoadingView,
  source: Reader,
  what: string,
  evaluate: () => T,
): Promise<T> {
  for (let round = 1; ; round++) {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: evaluate() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (!(await view.load(source))) {
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    }
    if (round >= MAX_HOP_ROUNDS) throw new Error(`${what} kept asking for new keys after ${MAX_HOP_ROUNDS} rounds`);
  }
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

// ---- planning one key -------------------------------------------------------------------------

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
            randomSuffix: opts.randomSuffix,
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

// ---- a snapshot standing in for etcd ----------------------------------------------------------

/**
 * An in-memory Reader: `{ "<etcd key>": <value>, ... }`, each value the etcd value parsed as
 * JSON (written back as JSON text) or a raw string (kept as it is). Every key is at revision 1.
 *
 * Whoever wrote the snapshot, it answers as the live store would: the index the planner keeps
 * beside the jobs and reads when planning (the referencing index, shared/jobs/referencing-index.ts)
 * is a function of the /jobs/all values, so every entry a job of the snapshot would have is added
 * where the snapshot lacks it (a snapshot of the original system's etcd has none), with the same
 * function the planner writes them with.
 */
export class SnapshotSource implements Reader {
  private readonly kvs = new Map<string, KeyValue>();

  constructor(snapshot: Record<string, unknown>, jobKeys: JobKeys = defaultJobKeys) {
    for (const [key, v] of Object.entries(snapshot)) {
      const value = typeof v === 'string' ? v : JSON.stringify(v);
      this.kvs.set(key, { key, value, modRevision: 1, createRevision: 1, version: 1 });
    }
    for (const key of this.derivedIndexKeys(jobKeys))
      if (!this.kvs.has(key)) this.kvs.set(key, { key, value: '', modRevision: 1, createRevision: 1, version: 1 });
  }

  /** The referencing-index entries of every job under /jobs/all whose value is a job with params. */
  private derivedIndexKeys(jobKeys: JobKeys): string[] {
    const allPrefix = jobKeys.prefix('all');
    return [...this.kvs.values()]
      .filter((kv) => kv.key.startsWith(allPrefix))
      .flatMap((kv) => {
        let job: Job;
        try {
          job = parseStoredJob(kv.key, kv.value).job;
        } catch {
          return []; // not a job value: the live planner reads no value under /jobs/all either
        }
        return Array.isArray(job.params) ? referencingEntryKeys(jobKeys, job) : [];
      });
  }

  get(key: string): Promise<KeyValue | undefined> {
    return Promise.resolve(this.kvs.get(key));
  }

  range(prefix: string): Promise<RangeResult> {
    const items = [...this.kvs.values()]
      .filter((kv) => kv.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return Promise.resolve({ items, revision: 1 });
  }
}
