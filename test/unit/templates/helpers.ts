/**
 * Fixtures for the template tests: test/fixtures/templates/<id>.params.json holds one job's
 * params (name → resolved value, in job order) for every shipped template. Recorded ones come
 * from the ESI public record or the seeds; the others are constructed (see each file's `source`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Liquid } from 'liquidjs';
import { loadTemplates } from '../../../shared/templates/load';
import type { HeatTemplate } from '../../../shared/planner/types';
import { parseHot, renderHotTemplate, splitJobParams } from '../../../shared/templates/render';

/**
 * The variables a template reads from its scope (not loop variables or assigns), by liquidjs'
 * static analysis of every branch, including those a given set of params never takes.
 */
export const templateVariables = (templateFile: string): string[] => new Liquid().globalVariablesSync(templateFile);

export const FIXTURES = path.resolve(__dirname, '..', '..', 'fixtures', 'templates');

export interface ParamsFixture {
  template: string;
  source: string;
  note: string;
  /** For output_key/list params: the deferred reference the job held (recorded fixtures). */
  resolved?: Record<string, unknown>;
  params: Record<string, unknown>;
}

let cached: Record<string, HeatTemplate> | undefined;

/** The templates the repo ships, loaded once per test file. */
export function shipped(): Record<string, HeatTemplate> {
  cached ??= loadTemplates().templates;
  return cached;
}

export function template(id: string): HeatTemplate {
  const t = shipped()[id];
  if (!t) throw new Error(`no shipped template "${id}"`);
  return t;
}

export function hasFixture(id: string): boolean {
  return fs.existsSync(path.join(FIXTURES, `${id}.params.json`));
}

export function fixture(id: string): ParamsFixture {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${id}.params.json`), 'utf8')) as ParamsFixture;
}

/** Renders a heat_worker template with its fixture's params, `overrides` applied on top. */
export function renderWith(id: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const { jinjaVars } = splitJobParams({ ...fixture(id).params, ...overrides });
  return parseHot(renderHotTemplate(template(id).template_file, jinjaVars, id));
}

export function mapping(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`expected a mapping, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

export function resourcesOf(doc: Record<string, unknown>): Record<string, Record<string, unknown>> {
  return mapping(doc.resources) as Record<string, Record<string, unknown>>;
}
