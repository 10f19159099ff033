// Reads the shipped templates (docs/templates.md "API"). parameter_mappings' key order is the job param order:
// nothing here may rebuild or sort it.
import { isPlainObject } from '../encoding/json-object';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { HeatTemplate, JsonObject, JsonValue } from '../planner/types';

export class TemplateLoadError extends Error {
  override name = 'TemplateLoadError';
  constructor(source: string, message: string, options?: ErrorOptions) {
    super(`${source}: ${message}`, options);
  }
}

// Checks one parsed heat template. `expectedId` (the file's base name) must equal `id`: a copied file with a
// stale id would silently shadow another template.
export function toHeatTemplate(doc: unknown, source: string, expectedId?: string): HeatTemplate {
  if (!isPlainObject(doc)) throw new TemplateLoadError(source, 'not a mapping');
  const { id, handler, watch, template_file, parameter_mappings } = doc;
  if (typeof id !== 'string' || !id) throw new TemplateLoadError(source, '"id" must be a non-empty string');
  if (expectedId !== undefined && id !== expectedId)
    throw new TemplateLoadError(source, `"id" is "${id}" but the file name says "${expectedId}"`);
  if (typeof handler !== 'string' || !handler)
    throw new TemplateLoadError(source, '"handler" must be a non-empty string');
  if (watch !== undefined && watch !== null && !Array.isArray(watch))
    throw new TemplateLoadError(source, '"watch" must be a list');
  if (typeof template_file !== 'string')
    throw new TemplateLoadError(source, '"template_file" must be a string (a YAML block scalar)');
  if (!isPlainObject(parameter_mappings)) throw new TemplateLoadError(source, '"parameter_mappings" must be a mapping');
  return {
    id,
    handler,
    // The record has `watch: []` everywhere; absent is read the same way.
    watch: (watch ?? []) as JsonValue[],
    template_file,
    parameter_mappings: parameter_mappings as Record<string, JsonValue>,
  };
}

function parseYaml(text: string, source: string): unknown {
  try {
    return YAML.parse(text);
  } catch (e) {
    throw new TemplateLoadError(source, `invalid YAML: ${(e as Error).message}`, { cause: e });
  }
}

export function parseHeatTemplateYaml(text: string, source: string, expectedId?: string): HeatTemplate {
  return toHeatTemplate(parseYaml(text, source), source, expectedId);
}

/** Reads every `*.yaml` / `*.yml` of a heat_templates directory, keyed by id. */
export function loadHeatTemplatesDir(dir: string): Record<string, HeatTemplate> {
  const out: Record<string, HeatTemplate> = {};
  for (const file of fs.readdirSync(dir).sort()) {
    if (!/\.ya?ml$/.test(file)) continue;
    const source = path.join(dir, file);
    const t = parseHeatTemplateYaml(fs.readFileSync(source, 'utf8'), source, file.replace(/\.ya?ml$/, ''));
    if (out[t.id]) throw new TemplateLoadError(source, `duplicate template id "${t.id}"`);
    out[t.id] = t;
  }
  return out;
}

/** `<root>/heat_templates/` by id in file-name order, `<root>/template_mappings.yaml` unvalidated (or undefined). */
export function loadTemplates(root = path.resolve(__dirname, '..', '..', 'templates')) {
  const templates = loadHeatTemplatesDir(path.join(root, 'heat_templates'));
  const file = path.join(root, 'template_mappings.yaml');
  const mappings = fs.existsSync(file) ? parseYaml(fs.readFileSync(file, 'utf8'), file) : undefined;
  if (mappings !== undefined && !isPlainObject(mappings)) throw new TemplateLoadError(file, 'not a mapping');
  return { templates, templateMappings: mappings as JsonObject | undefined };
}
