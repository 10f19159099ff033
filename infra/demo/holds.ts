/**
 * How long a scenario may take to settle, from the templates it runs: monitoring-sync holds a
 * status that is not positive back until it has lasted the target's `hold_options.time_seconds`
 * (the port template holds `FAIL` 210 s), so a scenario expecting a held status cannot match
 * before that hold has run out. Pure apart from reading the shipped templates.
 *
 * Templates are Liquid over YAML: their tags are dropped and every `{{ … }}` read as a scalar,
 * and each collector target (an `ESI::Monitoring::MonitoringTarget` resource of a Heat template,
 * or a monitoring_worker template's whole body) is parsed alone.
 */
import { isDeepStrictEqual } from 'node:util';
import path from 'node:path';
import YAML from 'yaml';
import type { HeatTemplate } from '../../shared/planner/types';
import { loadHeatTemplatesDir } from '../../shared/templates/load';
import type { Scenario } from './scenario';

/** A collector target a template declares, with the status it holds back. */
export interface TargetHold {
  template: string;
  resourceType: string;
  /** The /monitoring fields the target's etcd syncer writes (its field_name without a mapping). */
  fields: string[];
  positive: unknown[];
  seconds: number;
}

/** A status the scenario expects that monitoring-sync holds back before writing it. */
export interface ExpectedHold {
  key: string;
  field: string;
  value: unknown;
  seconds: number;
  template: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const MARKER = /^(\s*)type:\s*ESI::Monitoring::MonitoringTarget\s*$/;
const indentOf = (line: string) => /^\s*/.exec(line)![0].length;

/** The text of each target: its resource body in a Heat template, or a monitoring template's whole body. */
function targetTexts(t: HeatTemplate): string[] {
  const plain = t.template_file.replace(/\{%-?[\s\S]*?-?%\}/g, '').replace(/\{\{-?[\s\S]*?-?\}\}/g, 'x');
  if (t.handler === 'monitoring_worker') return [plain];
  const lines = plain.split('\n');
  const texts: string[] = [];
  lines.forEach((line, i) => {
    const indent = MARKER.exec(line)?.[1];
    if (indent === undefined) return;
    const depth = indent.length;
    const body = [line];
    for (const next of lines.slice(i + 1)) {
      if (next.trim() && indentOf(next) < depth) break;
      body.push(next);
    }
    texts.push(body.map((l) => l.slice(Math.min(depth, indentOf(l)))).join('\n'));
  });
  return texts;
}

function holdOf(template: string, text: string): TargetHold | undefined {
  const doc = YAML.parse(text, { uniqueKeys: false }) as unknown;
  const target =
    isObj(doc) && isObj(doc.properties) && doc.type === 'ESI::Monitoring::MonitoringTarget' ? doc.properties : doc;
  if (!isObj(target) || typeof target.resource_type !== 'string') return undefined;
  const etcd = isObj(target.syncer_properties) ? target.syncer_properties.etcd : undefined;
  if (!isObj(etcd) || !isObj(etcd.hold_options) || typeof etcd.hold_options.time_seconds !== 'number') return undefined;
  const mapped = Object.entries(etcd)
    .filter(([k, spec]) => k !== 'hold_options' && isObj(spec) && typeof spec.key === 'string')
    .map(([, spec]) => (spec as { key: string }).key);
  const fields = mapped.length ? mapped : typeof target.field_name === 'string' ? [target.field_name] : ['status'];
  const positive = etcd.hold_options.positive_status;
  return {
    template,
    resourceType: target.resource_type,
    fields,
    positive: Array.isArray(positive) ? positive : [positive],
    seconds: etcd.hold_options.time_seconds,
  };
}

/** Every collector target with hold_options the templates declare. */
export function templateHolds(templates: Record<string, HeatTemplate>): TargetHold[] {
  return Object.values(templates).flatMap((t) =>
    targetTexts(t).flatMap((text) => {
      const hold = holdOf(t.id, text);
      return hold ? [hold] : [];
    }),
  );
}

/** The statuses the scenario expects in /monitoring that a template holds back, each with its longest hold (longest first). */
export function expectedHolds(scenario: Scenario, holds: TargetHold[]): ExpectedHold[] {
  const found: ExpectedHold[] = [];
  for (const [key, expected] of Object.entries(scenario.expected_monitoring)) {
    if (!expected) continue;
    const resourceType = key.split('/').slice(-2)[0];
    for (const [field, value] of Object.entries(expected)) {
      if (field === 'version') continue;
      const [longest] = holds
        .filter((h) => h.resourceType === resourceType && h.fields.includes(field))
        .filter((h) => !h.positive.some((p) => isDeepStrictEqual(p, value)))
        .sort((a, b) => b.seconds - a.seconds);
      if (longest) found.push({ key, field, value, seconds: longest.seconds, template: longest.template });
    }
  }
  return found.sort((a, b) => b.seconds - a.seconds);
}

/** Time a scenario's chains get to finish after the last write, besides any hold. */
export const SETTLE_MS = 180_000;

export const TEMPLATES_DIR = path.join(__dirname, '..', '..', 'templates', 'heat_templates');

/**
 * How long to wait after the last write for the scenario to match: the longest hold of a status
 * it expects, plus the time its chains get to finish.
 */
export function settleBudget(
  scenario: Scenario,
  templates: Record<string, HeatTemplate> = loadHeatTemplatesDir(TEMPLATES_DIR),
): { ms: number; holds: ExpectedHold[] } {
  const holds = expectedHolds(scenario, templateHolds(templates));
  return { ms: (holds[0]?.seconds ?? 0) * 1000 + SETTLE_MS, holds };
}
