/** Fixtures of the heat unit tests (test/fixtures/heat/, derived by extract-heat-fixtures.ts). */
import fs from 'node:fs';
import path from 'node:path';
import type { Job } from '../../../shared/planner/types';
import type { HeatOutput } from '../../../shared/heat/types';
import { at } from '../../helpers/at';

export const REPO = path.resolve(__dirname, '..', '..', '..');
const FIX = path.join(REPO, 'test', 'fixtures');
const readJson = <T>(...p: string[]): T => JSON.parse(fs.readFileSync(path.join(FIX, ...p), 'utf8')) as T;

/** The job a seed's planner fixture expects (index in `expected`). */
export function seedJob(seed: string, index = 0): Job {
  const s = readJson<{ expected: { key: string; value: [string, Job, number] }[] }>('seeds', `${seed}.json`);
  return at(s.expected, index, `seed ${seed} expected jobs`).value[1];
}

export interface SeedRecords {
  seed: string;
  resource_type: string;
  resource_id: string;
  action: string;
  heat_stacks: {
    key: string;
    value: Record<string, unknown> & { output: HeatOutput[]; stack_status: string; status_reason: string };
  };
  job_state: { key: string; value: Record<string, unknown> };
  state_heat_outputs: string;
}

export const seedRecords = (): SeedRecords[] =>
  readJson<{ records: SeedRecords[] }>('heat', 'seed-records.json').records;

/** heat_stacks records seed 003's port job references: resource type → id → outputs. */
export function seed003Outputs(): Map<string, HeatOutput[]> {
  const f = readJson<{ records: { value: { id: string; output: HeatOutput[] } }[] }>('heat', 'outputs.seed003.json');
  return new Map(f.records.map((r) => [r.value.id, r.value.output]));
}

export const wire00 = () =>
  readJson<{
    tenant_id: string;
    heat_stacks: { key: string; value_raw: string };
    job_state: { key: string; value_raw: string };
  }>('heat', 'wire.00_logical_network.json');

/** Outputs with their keys in the order Heat's API prints them (not the record's). */
export const asHeat = (outs: HeatOutput[]): HeatOutput[] =>
  outs.map((o) => ({ output_key: o.output_key, output_value: o.output_value, description: o.description }));
