/**
 * The pure aggregator against the seeds: from each seed's job state (point 4/5) and its chain,
 * the /state value must equal the seed's /state point, string fields byte for byte.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JobAction as ChainAction } from '../../../shared/planner/types';
import { aggregateState, type ChainSummary } from '../../../shared/state/aggregate';

interface SeedState {
  seed: string;
  config: { key: string; value: { body: { status?: string }; version: number } } | null;
  job_actions: { handler: string; action: ChainAction; is_last: boolean }[];
  job_state: Record<string, unknown>;
  state: { key: string; value: { state: Record<string, string>; version: number; error: string } };
}

const dir = path.join(__dirname, '../../fixtures/state');
const seedStates: SeedState[] = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as SeedState);

test.each(seedStates.map((s) => [s.seed, s] as const))('seed %s: /state equals the seed', (_name, seed) => {
  const expected = seed.state.value;
  // Seed 003 shows only the stack, job state and state: a one-job heat modify of version 2.
  const last = seed.job_actions.find((j) => j.is_last)?.action ?? 'modify';
  const chain: ChainSummary = {
    version: seed.config?.value.version ?? expected.version,
    lastAction: last,
    outcome: { ok: true },
  };
  const actual = aggregateState(chain, seed.job_state);
  expect(actual.state).toEqual(expected.state);
  expect(actual.version).toBe(expected.version);
  expect(actual.error).toBe(expected.error);
});

test('a failed chain reports <ACTION>_FAILED with the reason, and keeps what the jobs reported', () => {
  const v = aggregateState(
    { version: 5, lastAction: 'modify', outcome: { ok: false, error: 'stack port_x UPDATE_FAILED: Timed out' } },
    { orchestration_state: 'UPDATE_FAILED' },
  );
  expect(v).toEqual({
    error: 'stack port_x UPDATE_FAILED: Timed out',
    state: { worker_state: 'MODIFY_FAILED', orchestration_state: 'UPDATE_FAILED' },
    version: 5,
  });
});
