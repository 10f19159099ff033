/**
 * A scenario: Gohan's /config writes in order, the /state and /monitoring each resource should
 * end with, and what the simulators are told so the record can be reproduced (format:
 * docs/scenarios.md). `esi scenario from-trace` makes one from a recorded trace; scenarios/ holds
 * the recorded logical-network (00) and load-balancer (05) scenarios.
 */
import fs from 'node:fs';
import path from 'node:path';

export type Step =
  { put: string; body: Record<string, unknown>; version: number; marked_for_deletion: boolean } | { delete: string };

export interface StateDoc {
  state: Record<string, unknown>;
  version: number;
  error: string;
}

/** A status the collector simulator reports for the targets of a resource (field = /monitoring field). */
export interface CollectorStatus {
  /** Gohan plural, as collector targets name it. */
  resource_type: string;
  resource_id: string;
  field: string;
  /** Only for targets of this version; absent: any version. */
  version?: number;
  value: unknown;
}

export interface Scenario {
  name: string;
  source: string;
  steps: Step[];
  expected_states: Record<string, StateDoc>;
  /** `null`: the record ends with the key deleted. */
  expected_monitoring: Record<string, Record<string, unknown> | null>;
  /** Heat simulator fixtures (`<stack>@version=<v>` → outputs); heat_outputs are then compared by value. */
  heat_outputs?: Record<string, unknown[]>;
  collector_statuses?: CollectorStatus[];
  notes?: string[];
}

export const SCENARIOS_DIR = path.join(__dirname, 'scenarios');

/** A scenario by name (scenarios/<name>.json) or by file path. */
export function loadScenario(nameOrFile = '05_load_balancer'): Scenario {
  const file = /[/.]/.test(nameOrFile) ? nameOrFile : path.join(SCENARIOS_DIR, `${nameOrFile}.json`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Scenario;
}
