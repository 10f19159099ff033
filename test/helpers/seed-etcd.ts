/**
 * The etcd keys a seed's planning moment needs, built from its fixture (test/fixtures/seeds/):
 * point (1) (the config value), the resources it references, the worker's mirror of the previous
 * version, and the unfinished jobs of those resources. The same map is written to etcd by
 * test/integration/planner.test.ts and given to `esi plan --snapshot` by esi-plan.test.ts.
 */
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import type { Job } from '../../shared/planner/types';
import { seedFixtures, stripSuffix, type RawConfig, type SeedFixture } from '../unit/planner/helpers';

export { seedFixtures, stripSuffix, type SeedFixture };

const mirrorKeyOf = (configKey: string): string => configKey.replace(/^\/config\//, '/esi-worker/config/');

/**
 * key → value. `wire: true` writes config values as Gohan does (body as escaped JSON text, what
 * the Lambda reads); otherwise as the seeds show them (body decoded), which the snapshot allows.
 */
export function seedKeys(seed: SeedFixture, opts: { wire: boolean }): Record<string, unknown> {
  const config = (v: RawConfig): unknown =>
    opts.wire ? encodeGohanConfigValue(v.body, v.version, v.marked_for_deletion === true) : v;
  const out: Record<string, unknown> = {};
  for (const r of seed.resources) {
    out[r.key] = config(r.value);
    // The worker took in every referenced resource's version (the seeds show them planned, their
    // stacks made): its mirror says so, as the planner writes it.
    const v = r.value;
    out[mirrorKeyOf(r.key)] = { body: v.body, deleted: v.marked_for_deletion === true, version: v.version };
  }
  if (seed.previous) {
    const p = seed.previous.value;
    out[mirrorKeyOf(seed.change.key)] = { body: p.body, deleted: p.marked_for_deletion === true, version: p.version };
  }
  for (const j of seed.pending_jobs) {
    out[`/jobs/all/${j.job_id}`] = [j.job_id.split(':')[1], { id: j.job_id }, 0];
  }
  out[seed.change.key] = config(seed.change.value);
  return out;
}

/** Every resource a seed touches: the planned one and those it references, as `<type>:<id>`. */
export const seedResources = (seed: SeedFixture): Set<string> =>
  new Set([
    `${seed.change.resource_type}:${seed.change.resource_id}`,
    ...seed.resources.map((r) => `${r.resource_type}:${r.resource_id}`),
  ]);

/** The expected /jobs/all entries of a seed (point 2). */
export const expectedJobs = (seed: SeedFixture): Array<{ key: string; handler: string; job: Job; counter: number }> =>
  seed.expected.map((e) => ({ key: e.key, handler: e.value[0], job: e.value[1], counter: e.value[2] }));
