/**
 * Test plumbing for the planner: fixture loading, shipped templates, and an in-memory PlanningView.
 * Reads only files inside the repo.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseTemplateMappings } from '../../../shared/planner/template-mappings';
import { loadTemplates } from '../../../shared/templates/load';
import { referencedResources } from '../../../shared/jobs/referencing-index';
import type {
  ConfigValue,
  HeatTemplate,
  Job,
  JsonObject,
  JsonValue,
  PlanningView,
  TemplateMappings,
} from '../../../shared/planner/types';

export const REPO = path.resolve(__dirname, '..', '..', '..');
const FIXTURES = path.join(REPO, 'test', 'fixtures');

export const readJson = <T>(p: string): T => JSON.parse(fs.readFileSync(p, 'utf8')) as T;

/** The templates the repo ships (templates/heat_templates/*.yaml), by id, read by the shared loader. */
export function shippedTemplates(): Record<string, HeatTemplate> {
  return loadTemplates().templates;
}

export function shippedTemplateMappings(): TemplateMappings {
  const doc = loadTemplates().templateMappings;
  if (!doc) throw new Error('templates/template_mappings.yaml is missing');
  return parseTemplateMappings(doc);
}

/** A Gohan /config value as the fixtures hold it (body decoded). */
export interface RawConfig {
  body: JsonObject;
  version: number;
  marked_for_deletion: boolean;
}

export const toConfigValue = (v: RawConfig): ConfigValue => ({
  body: v.body,
  version: v.version,
  markedForDeletion: v.marked_for_deletion === true,
});

export interface SeedFixture {
  seed: string;
  title: string;
  notes: string[];
  change: { key: string; resource_type: string; resource_id: string; value: RawConfig };
  previous: { value: RawConfig; source: string } | null;
  resources: Array<{ key: string; resource_type: string; resource_id: string; value: RawConfig; source: string }>;
  pending_jobs: Array<{ resource_type: string; resource_id: string; job_id: string }>;
  expected: Array<{ key: string; value: [string, Job, number] }>;
}

export function seedFixtures(): SeedFixture[] {
  const dir = path.join(FIXTURES, 'seeds');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => readJson<SeedFixture>(path.join(dir, f)));
}

export interface TraceLine {
  seq: number;
  ts: string;
  action: string;
  key: string;
  value: JsonValue;
  reconstructed?: string;
}

export function recordTrace(name: string): TraceLine[] {
  return fs
    .readFileSync(path.join(FIXTURES, 'record', `${name}.jsonl`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TraceLine);
}

const refKey = (type: string, id: string): string => `${type}/${id}`;

/** In-memory PlanningView: config values, the worker's mirror, and unfinished job ids per resource. */
export class MemoryView implements PlanningView {
  readonly configs = new Map<string, ConfigValue>();
  readonly mirror = new Map<string, ConfigValue>();
  readonly pending = new Map<string, string[]>();
  readonly referencing = new Map<string, string[]>();

  setConfig(type: string, id: string, v: ConfigValue): this {
    this.configs.set(refKey(type, id), v);
    return this;
  }

  setPrevious(type: string, id: string, v: ConfigValue): this {
    this.mirror.set(refKey(type, id), v);
    return this;
  }

  addPending(type: string, id: string, jobId: string): this {
    const k = refKey(type, id);
    this.pending.set(k, [...(this.pending.get(k) ?? []), jobId]);
    return this;
  }

  /** An unfinished job of another resource whose params reference (type, id). */
  addReferencing(type: string, id: string, jobId: string): this {
    const k = refKey(type, id);
    if (!(this.referencing.get(k) ?? []).includes(jobId))
      this.referencing.set(k, [...(this.referencing.get(k) ?? []), jobId]);
    return this;
  }

  /** An unfinished job: pending for its resource, referencing for every resource it references (the index's rule). */
  addPendingJob(job: Job): this {
    this.addPending(job.resource_type, job.resource_id, job.id);
    for (const r of referencedResources(job)) this.addReferencing(r.type, r.id, job.id);
    return this;
  }

  resource(type: string, id: string): ConfigValue | undefined {
    return this.configs.get(refKey(type, id));
  }

  previous(type: string, id: string): ConfigValue | undefined {
    return this.mirror.get(refKey(type, id));
  }

  pendingJobs(type: string, id: string): string[] {
    return this.pending.get(refKey(type, id)) ?? [];
  }

  referencingPendingJobs(type: string, id: string): string[] {
    return this.referencing.get(refKey(type, id)) ?? [];
  }
}

/** Suffixes that are recognisably not random, distinct per call. */
export function counterSuffix(): () => string {
  let n = 0;
  return () => `t${String(n++).padStart(4, '0')}`;
}

/** A job id without its 5-character random suffix. */
export const stripSuffix = (jobId: string): string => jobId.replace(/:[a-z0-9]{5}$/, '');

/** Compares a planned job with a recorded one; returns the differing fields (empty when equal). */
export function jobDifferences(actual: Job, expected: Job): string[] {
  const diffs: string[] = [];
  const keys = new Set([...Object.keys(actual), ...Object.keys(expected)]);
  for (const k of keys) {
    const a = (actual as unknown as Record<string, unknown>)[k];
    const e = (expected as unknown as Record<string, unknown>)[k];
    if (k === 'id') {
      if (stripSuffix(a as string) !== stripSuffix(e as string)) diffs.push(`id: ${String(a)} vs ${String(e)}`);
    } else if (k === 'dependency') {
      const as = [...new Set((a as string[]).map(stripSuffix))].sort();
      const es = [...new Set((e as string[]).map(stripSuffix))].sort();
      if (JSON.stringify(as) !== JSON.stringify(es))
        diffs.push(`dependency: ${JSON.stringify(a)} vs ${JSON.stringify(e)}`);
    } else if (!deepEqual(a, e)) {
      diffs.push(`${k}: ${JSON.stringify(a)?.slice(0, 300)} vs ${JSON.stringify(e)?.slice(0, 300)}`);
    }
  }
  return diffs;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length &&
      ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return false;
}
