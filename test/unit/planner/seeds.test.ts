/**
 * The five normative seeds: planning the point (1) config value must give the point (2) jobs,
 * every field and param, `dependency` as a set, ids up to the 5-character random suffix.
 */
import { planChange } from '../../../shared/planner/plan';
import { defaultSchemaIndex } from '../../../shared/planner/schema';
import {
  MemoryView,
  counterSuffix,
  jobDifferences,
  seedFixtures,
  shippedTemplateMappings,
  shippedTemplates,
  stripSuffix,
  toConfigValue,
  type SeedFixture,
} from './helpers';
import { at } from '../../helpers/at';

function viewFor(seed: SeedFixture): MemoryView {
  const view = new MemoryView();
  for (const r of seed.resources) view.setConfig(r.resource_type, r.resource_id, toConfigValue(r.value));
  if (seed.previous)
    view.setPrevious(seed.change.resource_type, seed.change.resource_id, toConfigValue(seed.previous.value));
  for (const p of seed.pending_jobs) view.addPending(p.resource_type, p.resource_id, p.job_id);
  return view;
}

const seeds = seedFixtures();
const matched: string[] = [];

afterAll(() => {
  console.log(`planner seeds: ${matched.length}/${seeds.length} matched exactly (${matched.join(', ')})`);
});

describe.each(seeds.map((s) => [s.seed, s] as const))('seed %s', (name, seed) => {
  const result = planChange({
    resourceType: seed.change.resource_type,
    resourceId: seed.change.resource_id,
    value: toConfigValue(seed.change.value),
    templates: shippedTemplates(),
    templateMappings: shippedTemplateMappings(),
    view: viewFor(seed),
    schema: defaultSchemaIndex(),
    randomSuffix: counterSuffix(),
  });

  it('plans the recorded jobs, in chain order', () => {
    if (result.kind !== 'jobs') throw new Error(`expected jobs, got ${JSON.stringify(result)}`);
    expect(result.jobs.map((j) => stripSuffix(j.job.id))).toEqual(seed.expected.map((e) => stripSuffix(e.value[1].id)));
    const diffs = result.jobs.flatMap((j, i) =>
      jobDifferences(j.job, at(seed.expected, i, 'expected jobs').value[1]).map((d) => `${j.job.id}: ${d}`),
    );
    expect(diffs).toEqual([]);
    matched.push(name);
  });

  it('stores [handler, job, 0] under /jobs/all/<id>, keys in the seed order', () => {
    if (result.kind !== 'jobs') throw new Error(`expected jobs, got ${result.kind}`);
    result.jobs.forEach((planned, i) => {
      const expected = at(seed.expected, i, 'expected jobs');
      const [handler, expectedJob, counter] = expected.value;
      expect(planned.stored[0]).toBe(handler);
      expect(planned.stored[1]).toBe(planned.job);
      expect(planned.stored[2]).toBe(counter);
      expect(stripSuffix(`/jobs/all/${planned.job.id}`)).toBe(stripSuffix(expected.key));
      expect(Object.keys(planned.job)).toEqual(Object.keys(expectedJob));
      planned.job.params.forEach((p, k) =>
        expect(Object.keys(p)).toEqual(Object.keys(at(expectedJob.params, k, 'expected params'))),
      );
    });
  });
});
