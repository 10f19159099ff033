/**
 * Replays the /config writes of two recorded scenarios, in order, through the pure planner and
 * compares with what the original system wrote: the /jobs/all jobs, and /state READ_COMPLETE for
 * resources without a template.
 *
 * Each change is planned against etcd as the trace shows it at the moment the original planner
 * acted (just before its first job write, or at the config write when it wrote no job): the
 * config values, the unfinished /jobs/all entries, and the worker's mirror of the previous
 * version. Heat templates are the shipped ones, overridden by the template writes of the trace
 * (the record's templates changed between runs; docs/PROTOCOL-NOTES.md §f.8).
 */
import { planChange, type PlanResult } from '../../../shared/planner/plan';
import { defaultSchemaIndex } from '../../../shared/planner/schema';
import type { HeatTemplate, Job, JsonObject } from '../../../shared/planner/types';
import {
  MemoryView,
  counterSuffix,
  jobDifferences,
  recordTrace,
  shippedTemplateMappings,
  shippedTemplates,
  toConfigValue,
  type RawConfig,
  type TraceLine,
} from './helpers';

const schema = defaultSchemaIndex();
const TEMPLATE_PREFIX = '/config/v2.0/heat_templates/';

interface Resource {
  type: string;
  id: string;
  statePath: string;
}

function resourceOf(configKey: string): Resource {
  const parts = configKey.slice('/config/'.length).split('/');
  const id = parts.pop() as string;
  const plural = parts.pop() as string;
  const type = schema.singular(plural);
  if (!type) throw new Error(`no schema for plural ${plural} (${configKey})`);
  return { type, id, statePath: `/state/${[...parts, plural, id].join('/')}` };
}

const isJobSet = (l: TraceLine): boolean => l.key.startsWith('/jobs/all/') && l.action === 'set';
const jobOf = (l: TraceLine): Job => (l.value as unknown as [string, Job, number])[1];

/** etcd before trace index `at`: config values by resource, unfinished job ids by resource. */
function etcdBefore(trace: TraceLine[], at: number): MemoryView {
  const view = new MemoryView();
  const pending = new Map<string, Job>();
  for (const l of trace.slice(0, at)) {
    if (l.key.startsWith('/config/') && !l.key.startsWith(TEMPLATE_PREFIX)) {
      const r = resourceOf(l.key);
      if (l.action === 'delete') view.configs.delete(`${r.type}/${r.id}`);
      else view.setConfig(r.type, r.id, toConfigValue(l.value as unknown as RawConfig));
    } else if (l.key.startsWith('/jobs/all/')) {
      if (l.action === 'delete') pending.delete(l.key);
      else pending.set(l.key, jobOf(l));
    }
  }
  for (const job of pending.values()) view.addPendingJob(job);
  return view;
}

interface Outcome {
  recordedJobs: number;
  jobsMatched: number;
  recordedReadComplete: number;
  readCompleteMatched: number;
  problems: string[];
}

function replay(name: string): Outcome {
  const trace = recordTrace(name);
  const templates: Record<string, HeatTemplate> = shippedTemplates();
  const mirror = new Map<string, RawConfig>();
  const mappings = shippedTemplateMappings();
  const suffix = counterSuffix();
  const out: Outcome = {
    recordedJobs: trace.filter(isJobSet).length,
    jobsMatched: 0,
    recordedReadComplete: 0,
    readCompleteMatched: 0,
    problems: [],
  };
  out.recordedReadComplete = trace.filter((l) => l.key.startsWith('/state/')).length;
  const claimedJobs = new Set<number>();

  trace.forEach((line, index) => {
    if (!line.key.startsWith('/config/')) return;
    if (line.key.startsWith(TEMPLATE_PREFIX)) {
      if (line.action === 'set') {
        const body = (line.value as JsonObject).body as unknown as Omit<HeatTemplate, 'template_file'>;
        templates[body.id] = { ...body, template_file: templates[body.id]?.template_file ?? '' };
      }
      return;
    }
    const r = resourceOf(line.key);
    const value = line.action === 'delete' ? undefined : (line.value as unknown as RawConfig);
    const jobName = value && `${r.type}:${r.id}:${value.version}`;
    // The original planner's own moment: just before the first job it wrote for this change.
    const jobIndexes = trace.flatMap((l, i) =>
      i > index && !claimedJobs.has(i) && isJobSet(l) && jobOf(l).job_name === jobName ? [i] : [],
    );
    const at = jobIndexes[0] ?? index + 1;
    const view = etcdBefore(trace, at);
    const prev = mirror.get(line.key);
    if (prev) view.setPrevious(r.type, r.id, toConfigValue(prev));
    const result: PlanResult = planChange({
      resourceType: r.type,
      resourceId: r.id,
      value: value && toConfigValue(value),
      templates,
      templateMappings: mappings,
      view,
      schema,
      randomSuffix: suffix,
    });
    if (value) mirror.set(line.key, value);
    else mirror.delete(line.key);
    check(name, line, r, result, jobIndexes, trace, out, claimedJobs);
  });
  return out;
}

function check(
  name: string,
  line: TraceLine,
  r: Resource,
  result: PlanResult,
  jobIndexes: number[],
  trace: TraceLine[],
  out: Outcome,
  claimed: Set<number>,
): void {
  const where = `${name} seq ${line.seq} ${line.action} ${r.type} ${r.id}`;
  if (result.kind === 'error') {
    out.problems.push(`${where}: ${result.error.message}`);
  } else if (result.kind === 'deleted') {
    if (jobIndexes.length) out.problems.push(`${where}: key delete planned nothing, but the record has jobs`);
  } else if (result.kind === 'no_template') {
    const state = trace.find((l) => l.key === r.statePath && (l.value as JsonObject).version === result.state.version);
    if (!state)
      out.problems.push(`${where}: no template, but the record has no READ_COMPLETE v${result.state.version}`);
    else if (JSON.stringify(state.value) !== JSON.stringify(result.state))
      out.problems.push(`${where}: state ${JSON.stringify(result.state)} vs ${JSON.stringify(state.value)}`);
    else out.readCompleteMatched++;
    if (jobIndexes.length) out.problems.push(`${where}: no template, but the record has ${jobIndexes.length} job(s)`);
  } else {
    if (result.jobs.length !== jobIndexes.length)
      out.problems.push(`${where}: planned ${result.jobs.length} job(s), the record has ${jobIndexes.length}`);
    result.jobs.forEach((planned, i) => {
      const recordedIndex = jobIndexes[i];
      const recorded = recordedIndex === undefined ? undefined : trace[recordedIndex];
      if (recordedIndex === undefined || !recorded) return;
      claimed.add(recordedIndex);
      const diffs = jobDifferences(planned.job, jobOf(recorded));
      const [handler, , counter] = recorded.value as unknown as [string, Job, number];
      if (planned.stored[0] !== handler || planned.stored[2] !== counter) diffs.push('stored value shape');
      if (diffs.length) out.problems.push(`${where}: job ${jobOf(recorded).id} differs: ${diffs.join('; ')}`);
      else out.jobsMatched++;
    });
  }
}

describe.each([['00_logical_network'], ['05_load_balancer']])('replay of %s', (name) => {
  const outcome = replay(name);

  it('reproduces every recorded job and READ_COMPLETE state', () => {
    console.log(
      `planner replay ${name}: jobs ${outcome.jobsMatched}/${outcome.recordedJobs} matched exactly, ` +
        `READ_COMPLETE ${outcome.readCompleteMatched}/${outcome.recordedReadComplete} matched` +
        (outcome.problems.length ? `\n  ${outcome.problems.join('\n  ')}` : ''),
    );
    expect(outcome.problems).toEqual([]);
    expect(outcome.recordedJobs).toBeGreaterThan(0);
    expect(outcome.jobsMatched).toBe(outcome.recordedJobs);
    expect(outcome.readCompleteMatched).toBe(outcome.recordedReadComplete);
  });
});
