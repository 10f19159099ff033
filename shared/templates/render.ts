// Renders a heat template's Liquid `template_file` into HOT and checks it (docs/templates.md "Variables"). Strict:
// an undefined variable or filter fails the job readably instead of building a half-empty stack.
import { errorMessage } from '../errors';
import { Liquid, type Template } from 'liquidjs';
import YAML from 'yaml';
import { isPlainObject } from '../encoding/json-object';

/** Params consumed by the heat worker itself (stack timeout), never declared by templates. */
export const WORKER_PARAMS: ReadonlySet<string> = new Set(['heat_timeout']);

export const JINJA_PREFIX = 'jinja_';

type Vars = Record<string, unknown>;

export class TemplateRenderError extends Error {
  override name = 'TemplateRenderError';
  constructor(
    message: string,
    readonly templateId: string,
    /** The undefined variable (or filter), and where in template_file, when liquidjs says. */
    readonly variable?: string,
    readonly line?: number,
    readonly col?: number,
  ) {
    super(message);
  }
}

export class HotParseError extends Error {
  override name = 'HotParseError';
}

// Only the params' own keys are visible; no prototype lookups such as `constructor`.
const engine = new Liquid({ strictVariables: true, strictFilters: true, ownPropertyOnly: true });

// Parsed texts (Liquid templates, rendered HOT) by text: a warm Lambda renders the same templates again and
// again, mostly to the same text for every resource of a type. Bounded against a stream of ad-hoc texts.
function cached<T>(cache: Map<string, T>, text: string, parse: (text: string) => T): T {
  let t = cache.get(text);
  if (t === undefined) {
    t = parse(text);
    if (cache.size >= 256) cache.clear();
    cache.set(text, t);
  }
  return t;
}

const liquidCache = new Map<string, Template[]>();
const parsed = (templateFile: string): Template[] => cached(liquidCache, templateFile, (t) => engine.parse(t));

/** Renders `templateFile` with `jinjaVars` as the only variables; `templateId` names it in errors. */
export function renderHotTemplate(templateFile: string, jinjaVars: Vars, templateId = '<inline>'): string {
  try {
    return engine.renderSync(parsed(templateFile), jinjaVars) as string;
  } catch (e) {
    // liquidjs's ", line:N, col:M" is lifted out of its message.
    const raw = errorMessage(e);
    const pos = /,? line:(\d+), col:(\d+)/.exec(raw);
    const [line, col] = pos ? [Number(pos[1]), Number(pos[2])] : [];
    const where = pos ? ` (template_file line ${line}, col ${col})` : '';
    const bare = pos ? raw.slice(0, pos.index) : raw;
    const [, kind, name] = /^undefined (variable|filter): (.+)$/.exec(bare) ?? [];
    const what = name === undefined ? bare : `undefined ${kind} "${name}"`;
    const hint = kind === 'variable' ? '; map it in parameter_mappings or fix the template' : '';
    throw new TemplateRenderError(`template "${templateId}": ${what}${where}${hint}`, templateId, name, line, col);
  }
}

/** Resolved job params → template variables and Heat stack parameters; worker params go to neither. */
export function splitJobParams(params: Vars): { jinjaVars: Vars; stackParams: Vars } {
  const jinjaVars: Vars = {};
  const stackParams: Vars = {};
  for (const [k, v] of Object.entries(params)) {
    if (k.startsWith(JINJA_PREFIX)) jinjaVars[k] = v;
    else if (!WORKER_PARAMS.has(k)) stackParams[k] = v;
  }
  return { jinjaVars, stackParams };
}

/** Parsed HOT documents, shared between jobs: frozen, so no reader can change another's. */
const hotCache = new Map<string, Record<string, unknown>>();

// The core schema keeps `heat_template_version: 2013-05-23` a string (YAML 1.1 would make it a date); duplicate
// keys (two loop iterations emitting one resource name) are an error, not an overwrite.
export function parseHot(text: string): Record<string, unknown> {
  return cached(hotCache, text, (t) => {
    let doc: unknown;
    try {
      doc = YAML.parse(t, { schema: 'core', uniqueKeys: true });
    } catch (e) {
      throw new HotParseError(`rendered template is not valid YAML: ${errorMessage(e)}`, { cause: e });
    }
    if (!isPlainObject(doc)) throw new HotParseError('rendered template is not a YAML mapping');
    return deepFreeze(doc);
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

// The problems of a parsed HOT document with the stack params sent with it (none = valid): Heat rejects undeclared
// params; `outputs` may be `{}` but must be there (the worker reads outputs from it).
export function validateHot(doc: Vars, stackParams: Vars): string[] {
  const problems: string[] = [];
  const version = doc.heat_template_version;
  if (version === undefined || version === null || version === '') problems.push('heat_template_version is missing');
  const declared = isPlainObject(doc.parameters) ? doc.parameters : {};
  if (doc.parameters !== undefined && doc.parameters !== null && !isPlainObject(doc.parameters))
    problems.push('parameters is not a mapping');
  for (const name of Object.keys(stackParams)) {
    if (name.startsWith(JINJA_PREFIX) || WORKER_PARAMS.has(name)) continue;
    if (!(name in declared)) problems.push(`parameter "${name}" is passed but not declared under parameters`);
  }
  if (!isPlainObject(doc.resources)) problems.push('resources is missing or not a mapping');
  if (!isPlainObject(doc.outputs)) problems.push('outputs is missing or not a mapping');
  return problems;
}
