/**
 * A recorded trace (the record's JSON-lines format: one etcd event per line, `{seq, watcher,
 * action, key, value, …}`) → a scenario (docs/scenarios.md). Pure: text in, scenario out.
 *
 * - steps: every Gohan `/config` write and delete in order (heat templates excepted: the shipped
 *   ones are published instead). A write the recorder lost (the watchers dropped events) is
 *   rebuilt from the `/jobs/all` write that proves it: the job carries the decoded body
 *   (`resource_input`) and the version; `marked_for_deletion` follows a `logical_delete` job.
 * - expected_states: the last `/state` value the worker wrote for each resource (Gohan removes it
 *   after a delete; the comparison is about what the worker wrote).
 * - expected_monitoring: the last `/monitoring` value of each resource, `null` when the record
 *   ends with it deleted.
 * - heat_outputs: the recorded outputs of every stack at every version (`<type>_<id>@version=<v>`,
 *   from the `/state` values), for the Heat simulator; the comparison is then by value.
 * - collector_statuses: every status the record shows per resource, field and target version,
 *   for the collector simulator to report.
 */
import { defaultSchemaIndex } from '../../shared/planner/schema';
import type { CollectorStatus, Scenario, Step, StateDoc } from './scenario';

interface TraceLine {
  seq?: number;
  action: string;
  key: string;
  value: unknown;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The trace's lines; an error names `source` and the line (1-based, blank lines counted). */
export function parseTrace(text: string, source = 'trace'): TraceLine[] {
  const lines: TraceLine[] = [];
  text.split('\n').forEach((l, i) => {
    if (!l.trim()) return;
    const where = `${source}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch (err) {
      throw new Error(`${where}: not JSON (${(err as Error).message})`, { cause: err });
    }
    if (!isObj(v) || typeof v.key !== 'string' || typeof v.action !== 'string')
      throw new Error(`${where}: expected {"action", "key", "value", …}`);
    lines.push(v as unknown as TraceLine);
  });
  return lines;
}

const WRITES = new Set(['set', 'create', 'compareAndSwap', 'update']);
const DELETES = new Set(['delete', 'compareAndDelete', 'expire']);

export function scenarioFromTrace(lines: TraceLine[], name: string, source: string): Scenario {
  const schema = defaultSchemaIndex();
  const steps: Step[] = [];
  const seen = new Set<string>();
  const states: Record<string, StateDoc> = {};
  const monitoring: Record<string, Obj | null> = {};
  const outputs: Record<string, unknown[]> = {};
  const statuses = new Map<string, CollectorStatus>();
  const reconstructed: string[] = [];

  for (const l of lines) {
    const write = WRITES.has(l.action);
    const del = DELETES.has(l.action);
    if (l.key.startsWith('/config/') && !l.key.startsWith('/config/v2.0/heat_templates/')) {
      if (del) steps.push({ delete: l.key });
      else if (write && isObj(l.value)) {
        const v = l.value;
        const body = typeof v.body === 'string' ? (JSON.parse(v.body) as Obj) : (v.body as Obj);
        const version = Number(v.version);
        steps.push({ put: l.key, body, version, marked_for_deletion: v.marked_for_deletion === true });
        seen.add(`${l.key}#${version}`);
      }
    } else if (l.key.startsWith('/jobs/all/') && write && Array.isArray(l.value)) {
      const job = l.value[1] as Obj;
      const type = String(job.resource_type);
      const prefix = schema.prefix(type) ?? `/v2.0/${schema.plural(type) ?? `${type}s`}`;
      const key = `/config${prefix}/${String(job.resource_id)}`;
      const version = Number(job.version);
      if (!seen.has(`${key}#${version}`)) {
        seen.add(`${key}#${version}`);
        // Before the job: the planner wrote it in answer to this write.
        steps.push({
          put: key,
          body: job.resource_input as Obj,
          version,
          marked_for_deletion: job.action === 'logical_delete',
        });
        reconstructed.push(`${key} v${version} (from ${l.key})`);
      }
    } else if (l.key.startsWith('/state/') && write && isObj(l.value)) {
      const v = l.value as unknown as StateDoc;
      states[l.key] = v;
      const text = v.state?.heat_outputs;
      const [plural = '', id = ''] = l.key.split('/').slice(-2);
      const singular = schema.singular(plural);
      if (typeof text === 'string' && singular) {
        // By version for templates with a `version` parameter; by stack name (the latest) for the others.
        const stack = `${singular}_${id}`;
        outputs[`${stack}@version=${v.version}`] = outputs[stack] = JSON.parse(text) as unknown[];
      }
    } else if (l.key.startsWith('/monitoring/')) {
      if (del) monitoring[l.key] = null;
      else if (write && isObj(l.value)) {
        monitoring[l.key] = l.value;
        const [resourceType = '', resourceId = ''] = l.key.split('/').slice(-2);
        const version = Number(l.value.version);
        for (const [field, value] of Object.entries(l.value)) {
          if (field === 'version') continue;
          const s: CollectorStatus = {
            resource_type: resourceType,
            resource_id: resourceId,
            field,
            version,
            value,
          };
          statuses.set(`${l.key}#${version}#${field}`, s);
        }
      }
    }
  }
  return {
    name,
    source,
    steps,
    expected_states: states,
    expected_monitoring: monitoring,
    heat_outputs: outputs,
    collector_statuses: [...statuses.values()],
    notes: reconstructed.length
      ? [`config writes the recorder lost, rebuilt from the job that proves them: ${reconstructed.join('; ')}`]
      : [],
  };
}
