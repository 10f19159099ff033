/**
 * A demo scenario: Gohan's /config writes in order, and the /state (and /monitoring) each
 * resource should end with. scenarios/05_load_balancer.json is the recorded load-balancer
 * scenario of the original deployment, taken from its public record (docs/PROTOCOL-NOTES.md).
 */
import fs from 'node:fs';
import path from 'node:path';

export type Step =
  { put: string; body: Record<string, unknown>; version: number; marked_for_deletion: boolean } | { delete: string };

export interface Scenario {
  name: string;
  source: string;
  steps: Step[];
  expected_states: Record<string, { state: Record<string, unknown>; version: number; error: string }>;
  expected_monitoring: Record<string, Record<string, unknown>>;
}

export function loadScenario(name = '05_load_balancer'): Scenario {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'scenarios', `${name}.json`), 'utf8')) as Scenario;
}
