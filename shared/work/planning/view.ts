/**
 * The planner's view of etcd, loaded in rounds (every key a run asked for and missed is fetched for the next),
 * and the templates and template_mappings it reads: shipped, or etcd's overrides; parsed once per process.
 */
import YAML from 'yaml';
import { defaultJobKeys } from '../../jobs/job-keys';
import { pendingJobsOf } from '../../jobs/job-index';
import { parseConfigValue, type ConfigValue } from '../../gohan/config-value';
import { CONFIG_PREFIX, keys, parseConfigKey } from '../../keys';
import { PlanError, parseTemplateMappings, type HeatTemplate } from '../../planner';
import type { PlanningView, SchemaIndex, TemplateMappings } from '../../planner';
import { loadTemplates, toHeatTemplate } from '../../templates/load';
import { readKeys, type Reader } from '../../store/read';
import type { KeyValue } from '../../store/store';
import { definedOnly } from '../../defined-only';

/** Foreign-key hops a mapping may take before its evaluation is given up. */
const MAX_HOP_ROUNDS = 16;

const resourceKey = (type: string, id: string) => `${type}\u0000${id}`;

export class LoadingView implements PlanningView {
  readonly configs = new Map<string, KeyValue | undefined>();
  private readonly templates = new Map<string, HeatTemplate | PlanError | undefined>();
  private readonly missingConfigs = new Set<string>();
  private readonly missingTemplates = new Set<string>();
  /** Unfinished job ids by resourceKey. */
  private readonly pending = new Map<string, string[]>();
  private readonly missingPending = new Map<string, { type: string; id: string }>();
  /** The other resources' mirrors, read with their unfinished jobs (docs/planner.md, "Fences"). */
  readonly pendingMirrors = new Map<string, KeyValue | undefined>();
  /** The unfinished jobs referencing the planned resource, and its index entries whose jobs are gone. */
  referencing: { unfinished: string[]; stale: string[] } | undefined;
  private readonly shippedTemplates = shipped().templates;

  /** `loadPending`: whether pendingJobs is answered (planning) or always empty (choosing a template). */
  constructor(
    private readonly schema: SchemaIndex,
    private readonly self: { type: string; id: string; previous: ConfigValue | undefined },
    private readonly loadPending: boolean,
  ) {
    this.wantPending(self.type, self.id);
  }

  private isSelf = (type: string, id: string) => type === this.self.type && id === this.self.id;

  /** Asks for a resource's unfinished jobs in the next load (with its config: the planner asks for both). */
  private wantPending(type: string, id: string): void {
    const k = resourceKey(type, id);
    if (this.loadPending && !this.pending.has(k)) this.missingPending.set(k, { type, id });
  }

  /** Reads these resources' unfinished jobs and mirrors again: they were planned meanwhile. */
  reloadPending(resources: { type: string; id: string }[]): void {
    for (const { type, id } of resources) {
      this.pending.delete(resourceKey(type, id));
      this.wantPending(type, id);
    }
  }

  configKey(type: string, id: string): string | undefined {
    const prefix = this.schema.prefix(type);
    return prefix ? `${CONFIG_PREFIX.slice(0, -1)}${prefix}/${id}` : undefined;
  }

  resource(type: string, id: string): ConfigValue | undefined {
    const key = this.configKey(type, id);
    if (key && !this.configs.has(key)) {
      this.missingConfigs.add(key);
      this.wantPending(type, id);
    }
    const kv = key ? this.configs.get(key) : undefined;
    if (!kv) return undefined;
    const v = parseConfigValue(kv.value);
    if (!v.ok)
      throw new PlanError(`referenced ${type} ${id} at ${key} (revision ${kv.modRevision}) is unreadable: ${v.error}`);
    return v.value;
  }

  /** Only the planned resource has a "previous" (its mirror); the planner asks for no other. */
  previous(type: string, id: string): ConfigValue | undefined {
    return this.isSelf(type, id) ? this.self.previous : undefined;
  }

  pendingJobs(type: string, id: string): string[] {
    const known = this.pending.get(resourceKey(type, id));
    if (!known) this.wantPending(type, id);
    return known ?? [];
  }

  referencingPendingJobs(type: string, id: string): string[] {
    return this.isSelf(type, id) ? (this.referencing?.unfinished ?? []) : [];
  }

  /** The `templates` the planner indexes: etcd's value where there is one, else the shipped one. */
  templateRecord(): Readonly<Record<string, HeatTemplate>> {
    const get = (_target: object, id: string | symbol) => {
      if (typeof id !== 'string') return undefined;
      if (!this.templates.has(id)) this.missingTemplates.add(id);
      const t = this.templates.get(id);
      if (t instanceof PlanError) throw t;
      return t;
    };
    return new Proxy({}, { get });
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
    // The mirrors with (never after) the jobs: a plan of one of these resources that commits
    // later fails this plan's fence on its mirror; one that committed before is in the jobs read.
    const mirrorKeys = pending.flatMap(({ type, id }) => {
      const key = this.isSelf(type, id) ? undefined : this.configKey(type, id);
      const path = key ? parseConfigKey(key) : undefined;
      return path ? [keys.mirror(path)] : [];
    });
    const toGet = [...configs, ...templates.map((id) => keys.heatTemplate(id)), ...mirrorKeys];
    // The keys are read in the jobs' first request when there is one.
    const referenced = loadReferencing ? this.self : undefined;
    const jobs =
      pending.length || loadReferencing
        ? await pendingJobsOf(source, defaultJobKeys, pending, definedOnly({ referenced, alsoRead: toGet }))
        : undefined;
    const got = jobs ? jobs.read : (await readKeys(source, { keys: toGet })).values;
    mirrorKeys.forEach((key, i) => this.pendingMirrors.set(key, got[configs.length + templates.length + i]));
    for (const [k, ids] of jobs?.unfinished ?? []) this.pending.set(k, ids);
    if (jobs?.referencing) this.referencing = jobs.referencing;
    configs.forEach((key, i) => this.configs.set(key, got[i]));
    templates.forEach((id, i) => {
      const kv = got[configs.length + i];
      const shipped = Object.hasOwn(this.shippedTemplates, id) ? this.shippedTemplates[id] : undefined;
      this.templates.set(id, (kv ? parseEtcdTemplate(id, kv) : undefined) ?? shipped);
    });
    return true;
  }
}

/** Runs `evaluate` in rounds; only the last round's result or error is final. */
export async function evaluateInRounds<T>(view: LoadingView, source: Reader, what: string, evaluate: () => T) {
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

let shippedCache: { templates: Record<string, HeatTemplate>; mappings: TemplateMappings } | undefined;

function shipped(): NonNullable<typeof shippedCache> {
  if (!shippedCache) {
    const loaded = loadTemplates();
    if (!loaded.templateMappings) throw new Error('templates/template_mappings.yaml is missing');
    shippedCache = { templates: loaded.templates, mappings: parseTemplateMappings(loaded.templateMappings) };
  }
  return shippedCache;
}

/** Parsed etcd values, reused while the key's mod revision is the same. */
const parsedCache = new Map<string, { modRevision: number; parsed: unknown }>();

function cachedParse<T>(kv: KeyValue, what: string, parse: () => T): T | PlanError {
  const cached = parsedCache.get(kv.key);
  if (cached?.modRevision === kv.modRevision) return cached.parsed as T | PlanError;
  let parsed: T | PlanError;
  try {
    parsed = parse();
  } catch (e) {
    const message = `${what} at ${kv.key} (revision ${kv.modRevision}) is invalid: ${(e as Error).message}`;
    parsed = new PlanError(message, { cause: e });
  }
  parsedCache.set(kv.key, { modRevision: kv.modRevision, parsed });
  return parsed;
}

/** A heat template value from etcd: a Gohan config value whose body is the template; undefined while deleted. */
const parseEtcdTemplate = (id: string, kv: KeyValue): HeatTemplate | PlanError | undefined =>
  cachedParse(kv, `heat template "${id}"`, () => {
    const v = parseConfigValue(kv.value);
    if (!v.ok)
      return new PlanError(`heat template "${id}" at ${kv.key} (revision ${kv.modRevision}) is unreadable: ${v.error}`);
    return v.value.markedForDeletion ? undefined : toHeatTemplate(v.value.body, kv.key, id);
  });

export function templateMappings(kv: KeyValue | undefined): TemplateMappings | PlanError {
  if (!kv) return shipped().mappings;
  return cachedParse(kv, 'template_mappings override', () => parseTemplateMappings(YAML.parse(kv.value)));
}
