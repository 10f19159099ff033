/**
 * Renders a heat template's `template_file` (Liquid) into a HOT document and checks the result.
 *
 * Variable rules (docs/templates.md, "Liquid ports"): for heat_worker templates, job params
 * named `jinja_*` are template variables only and are never sent to Heat; every other param is
 * a Heat stack parameter and is never visible to the template. The `jinja_` prefix is kept from
 * the original system because the planner's parameter_mappings name them that way.
 *
 * liquidjs runs strict (undefined variable or filter = error). The Jinja2 originals rendered an
 * undefined name as "" silently; a strict renderer turns a typo or a missing mapping into a
 * failed job with a readable message instead of a stack built from a half-empty template.
 */
import { errorMessage } from '../errors';
import { Liquid, type Template } from 'liquidjs';
import YAML from 'yaml';

/** Params consumed by the heat worker itself (stack timeout), never declared by templates. */
export const WORKER_PARAMS: ReadonlySet<string> = new Set(['heat_timeout']);

export const JINJA_PREFIX = 'jinja_';

export class TemplateRenderError extends Error {
  override name = 'TemplateRenderError';
  constructor(
    message: string,
    readonly templateId: string,
    /** The undefined variable (or filter), when that is what failed. */
    readonly variable?: string,
    /** Line / column inside template_file, when liquidjs reported them. */
    readonly line?: number,
    readonly col?: number,
  ) {
    super(message);
  }
}

export class HotParseError extends Error {
  override name = 'HotParseError';
}

const engine = new Liquid({
  strictVariables: true,
  strictFilters: true,
  // Only the params' own keys are visible; no prototype lookups such as `constructor`.
  ownPropertyOnly: true,
});

// Parsed templates keyed by their text: a warm Lambda renders the same ~50 templates again and
// again. Bounded so a stream of ad-hoc texts (tests, tools) cannot grow it forever.
const PARSE_CACHE_MAX = 256;
const parseCache = new Map<string, Template[]>();

function parseCached(templateFile: string): Template[] {
  let parsed = parseCache.get(templateFile);
  if (!parsed) {
    parsed = engine.parse(templateFile);
    if (parseCache.size >= PARSE_CACHE_MAX) parseCache.clear();
    parseCache.set(templateFile, parsed);
  }
  return parsed;
}

function toRenderError(e: unknown, templateId: string): TemplateRenderError {
  const raw = errorMessage(e);
  // liquidjs appends ", line:N, col:M" to its messages; lift them out so ours read naturally.
  const pos = /,? line:(\d+), col:(\d+)/.exec(raw);
  const line = pos ? Number(pos[1]) : undefined;
  const col = pos ? Number(pos[2]) : undefined;
  const where = pos ? ` (template_file line ${line}, col ${col})` : '';
  const bare = pos ? raw.slice(0, pos.index) : raw;
  const undefVar = /^undefined variable: (.+)$/.exec(bare);
  if (undefVar) {
    const v = undefVar[1];
    return new TemplateRenderError(
      `template "${templateId}": undefined variable "${v}"${where}; map it in parameter_mappings or fix the template`,
      templateId, v, line, col,
    );
  }
  const undefFilter = /^undefined filter: (.+)$/.exec(bare);
  if (undefFilter) {
    const f = undefFilter[1];
    return new TemplateRenderError(`template "${templateId}": undefined filter "${f}"${where}`, templateId, f, line, col);
  }
  return new TemplateRenderError(`template "${templateId}": ${bare}${where}`, templateId, undefined, line, col);
}

/**
 * Renders `templateFile` with `jinjaVars` as the only variables. `templateId` only serves the
 * error message. Throws TemplateRenderError on a Liquid syntax error, an undefined variable or
 * an undefined filter.
 */
export function renderHotTemplate(templateFile: string, jinjaVars: Record<string, unknown>, templateId = '<inline>'): string {
  try {
    return engine.renderSync(parseCached(templateFile), jinjaVars) as string;
  } catch (e) {
    throw toRenderError(e, templateId);
  }
}

/**
 * The variables a template reads from its scope (loop variables and assigns excluded), found by
 * static analysis, so every branch is covered, including those a given set of params never
 * takes. Lets a test or tool check that a template reads only what its parameter_mappings provide.
 */
export function templateVariables(templateFile: string, templateId = '<inline>'): string[] {
  try {
    return engine.globalVariablesSync(parseCached(templateFile));
  } catch (e) {
    throw toRenderError(e, templateId);
  }
}

/**
 * Splits resolved job params (name → value, output_key/list params already resolved) into the
 * template variables and the Heat stack parameters. Worker params (heat_timeout) go to neither.
 */
export function splitJobParams(params: Record<string, unknown>): {
  jinjaVars: Record<string, unknown>;
  stackParams: Record<string, unknown>;
} {
  const jinjaVars: Record<string, unknown> = {};
  const stackParams: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    if (k.startsWith(JINJA_PREFIX)) jinjaVars[k] = v;
    else if (!WORKER_PARAMS.has(k)) stackParams[k] = v;
  }
  return { jinjaVars, stackParams };
}

/**
 * Parses rendered HOT text. The core schema keeps `heat_template_version: 2013-05-23` a string
 * (YAML 1.1 would make it a date), and duplicate keys (e.g. two loop iterations producing the
 * same resource name) are an error rather than a silent overwrite.
 */
export function parseHot(text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = YAML.parse(text, { schema: 'core', uniqueKeys: true });
  } catch (e) {
    throw new HotParseError(`rendered template is not valid YAML: ${errorMessage(e)}`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new HotParseError('rendered template is not a YAML mapping');
  }
  return doc as Record<string, unknown>;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a parsed HOT document against the stack params that will be sent with it. Returns the
 * problems found (empty = valid): heat_template_version present; every non-jinja_, non-worker
 * param passed is declared under `parameters` (Heat rejects undeclared ones); `resources` and
 * `outputs` present as mappings (`outputs: {}` is fine: the heat worker reads outputs from it).
 */
export function validateHot(doc: Record<string, unknown>, stackParams: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (doc.heat_template_version === undefined || doc.heat_template_version === null || doc.heat_template_version === '') {
    problems.push('heat_template_version is missing');
  }
  const declared = isMapping(doc.parameters) ? doc.parameters : {};
  if (doc.parameters !== undefined && doc.parameters !== null && !isMapping(doc.parameters)) {
    problems.push('parameters is not a mapping');
  }
  for (const name of Object.keys(stackParams)) {
    if (name.startsWith(JINJA_PREFIX) || WORKER_PARAMS.has(name)) continue;
    if (!(name in declared)) problems.push(`parameter "${name}" is passed but not declared under parameters`);
  }
  if (!isMapping(doc.resources)) problems.push('resources is missing or not a mapping');
  if (!isMapping(doc.outputs)) problems.push('outputs is missing or not a mapping');
  return problems;
}
