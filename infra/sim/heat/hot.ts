/**
 * The part of Heat that reads a HOT template: parsing and validation (with Heat's error types and
 * messages), parameter checking and typing, and the intrinsic functions the project's templates
 * use (get_param, get_resource, get_attr, list_join, str_replace). Attribute values are invented
 * but shaped like the record's (Contrail fq_names, MAC lists, monitoring links).
 */
import crypto from 'node:crypto';
import YAML from 'yaml';
import { HttpError, isObject, type Json, type JsonObject, pyDumps, text } from '../http-util';

export const MONITORING_TARGET = 'ESI::Monitoring::MonitoringTarget';

const TITLES: Record<number, [string, string]> = {
  400: [
    'Bad Request',
    'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  ],
  401: ['Unauthorized', 'This server could not verify that you are authorized to access the document you requested.'],
  403: ['Forbidden', 'Access was denied to this resource.'],
  404: ['Not Found', 'The resource could not be found.'],
  405: ['Method Not Allowed', 'The method is not allowed for this resource.'],
  409: ['Conflict', 'There was a conflict when trying to complete your request.'],
  500: ['Internal Server Error', 'The server has either erred or is incapable of performing the requested operation.'],
  502: ['Bad Gateway', 'Bad gateway.'],
  503: ['Service Unavailable', 'The server is currently unavailable. Please try again at a later time.'],
  504: ['Gateway Timeout', 'The gateway has timed out.'],
};

/** An error in the body shape heat-api's fault middleware produces. */
export function heatError(status: number, type: string, message: string): HttpError {
  const [title, explanation] = TITLES[status] ?? ['Error', 'The server could not complete the request.'];
  return new HttpError(status, { explanation, code: status, error: { message, traceback: null, type }, title });
}

const HOT_SECTIONS = [
  'heat_template_version',
  'description',
  'parameter_groups',
  'parameters',
  'resources',
  'outputs',
  'conditions',
];

/** Accepts the template as an object or as YAML/JSON text, as heat-api does. */
export function parseTemplate(input: Json | undefined): JsonObject {
  let tmpl: Json | undefined = input;
  if (typeof input === 'string') {
    try {
      // HOT versions are dates; YAML 1.1 would turn them into timestamps, so keep core schema.
      tmpl = YAML.parse(input, { schema: 'core' }) as Json;
    } catch (err) {
      throw heatError(400, 'HTTPBadRequest', `Error parsing template: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!isObject(tmpl)) throw heatError(400, 'HTTPBadRequest', 'The template is not a JSON object or YAML mapping.');
    if (!('heat_template_version' in tmpl))
      throw heatError(400, 'HTTPBadRequest', 'Template format version not found.');
  }
  if (!isObject(tmpl)) {
    throw heatError(
      400,
      'HTTPBadRequest',
      input === undefined ? 'No template specified' : 'The template is not a JSON object or YAML mapping.',
    );
  }
  if (!('heat_template_version' in tmpl))
    throw heatError(
      400,
      'InvalidTemplateVersion',
      'The template version is invalid: Template version was not provided',
    );
  for (const key of Object.keys(tmpl)) {
    if (!HOT_SECTIONS.includes(key))
      throw heatError(400, 'InvalidTemplateSection', `The template section is invalid: ${key}`);
  }
  // Heat itself accepts an empty stack; the project's templates always have resources, so a
  // template without them is a rendering bug we want to surface loudly.
  if (!isObject(tmpl.resources) || Object.keys(tmpl.resources).length === 0) {
    throw heatError(
      400,
      'StackValidationFailed',
      'The template section is invalid: resources (the simulator requires at least one resource)',
    );
  }
  for (const [name, def] of Object.entries(tmpl.resources)) {
    if (!isObject(def) || typeof def.type !== 'string')
      throw heatError(400, 'StackValidationFailed', `Resource ${name} is missing "type"`);
    // Heat knows its registered types only (the templates' custom ones are registered by the deployment).
    if (!KNOWN_TYPE.test(def.type))
      throw heatError(400, 'StackValidationFailed', `The Resource Type (${def.type}) could not be found.`);
  }
  validateReferences(tmpl);
  return tmpl;
}

const KNOWN_TYPE = /^(OS|ESI|AWS)::/;
const FUNCTIONS = new Set(['get_param', 'get_resource', 'get_attr', 'list_join', 'str_replace']);
const PSEUDO = new Set(['OS::stack_name', 'OS::stack_id', 'OS::project_id']);

/** Heat rejects references to undeclared parameters and unknown resources before creating anything. */
function validateReferences(tmpl: JsonObject): void {
  const params = isObject(tmpl.parameters) ? tmpl.parameters : {};
  const resources = tmpl.resources as JsonObject;
  const walk = (node: Json, where: string): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, where));
    if (!isObject(node)) return;
    const [fn, ...more] = Object.keys(node);
    if (fn !== undefined && !more.length && FUNCTIONS.has(fn)) {
      const arg = node[fn];
      const first = Array.isArray(arg) ? arg[0] : arg;
      if (fn === 'get_param' && typeof first === 'string' && !(first in params) && !PSEUDO.has(first)) {
        throw heatError(400, 'UserParameterMissing', `The Parameter (${first}) was not provided.`);
      }
      if ((fn === 'get_resource' || fn === 'get_attr') && typeof first === 'string' && !(first in resources)) {
        throw heatError(
          400,
          'InvalidTemplateReference',
          `The specified reference "${first}" (in ${where}) is incorrect.`,
        );
      }
    }
    for (const v of Object.values(node)) walk(v, where);
  };
  for (const [name, def] of Object.entries(resources)) walk(def, name);
  if (isObject(tmpl.outputs)) for (const [name, def] of Object.entries(tmpl.outputs)) walk(def, `outputs.${name}`);
}

export interface TypedParameters {
  /** Values as get_param sees them (typed). */
  values: Record<string, Json>;
  /** Values as stack-show prints them (strings; hidden ones masked). */
  shown: Record<string, string>;
}

const invalid = (name: string, reason: string) =>
  heatError(400, 'StackValidationFailed', `Parameter '${name}' is invalid: ${reason}`);

function coerce(name: string, type: string, v: Json): Json {
  switch (type) {
    case 'number': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (Number.isNaN(n)) throw invalid(name, `could not convert string to float: '${text(v)}'`);
      return n;
    }
    case 'boolean': {
      if (typeof v === 'boolean') return v;
      const s = text(v).toLowerCase();
      if (['1', 't', 'true', 'on', 'y', 'yes'].includes(s)) return true;
      if (['0', 'f', 'false', 'off', 'n', 'no'].includes(s)) return false;
      throw invalid(
        name,
        `Unrecognized value "${text(v)}", acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`,
      );
    }
    case 'json':
      if (typeof v !== 'string') return v;
      try {
        return JSON.parse(v) as Json;
      } catch {
        throw invalid(name, `Value must be valid JSON: ${v}`);
      }
    case 'comma_delimited_list':
      return Array.isArray(v)
        ? v
        : text(v)
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
    default:
      return text(v);
  }
}

function show(type: string, v: Json): string {
  if (type === 'boolean') return v ? 'True' : 'False';
  if (type === 'json') return pyDumps(v);
  if (type === 'comma_delimited_list' && Array.isArray(v)) return v.map(text).join(',');
  return typeof v === 'string' ? v : pyDumps(v);
}

/** Checks user parameters against the template's declarations, as Heat does on create and update. */
export function typeParameters(tmpl: JsonObject, given: JsonObject, pseudo: Record<string, string>): TypedParameters {
  const decls = isObject(tmpl.parameters) ? tmpl.parameters : {};
  for (const key of Object.keys(given)) {
    if (!(key in decls))
      throw heatError(400, 'UnknownUserParameter', `The Parameter (${key}) was not defined in template.`);
  }
  const values: Record<string, Json> = {};
  const shown: Record<string, string> = {};
  for (const [name, declRaw] of Object.entries(decls)) {
    const decl = isObject(declRaw) ? declRaw : {};
    const type = typeof decl.type === 'string' ? decl.type : 'string';
    const raw = name in given ? given[name] : decl.default;
    if (raw === undefined) throw heatError(400, 'UserParameterMissing', `The Parameter (${name}) was not provided.`);
    values[name] = coerce(name, type, raw);
    // Hidden parameters (device passwords) are masked in stack-show, like Heat does.
    shown[name] = decl.hidden === true ? '******' : show(type, values[name]);
  }
  for (const [k, v] of Object.entries(pseudo)) {
    values[k] = v;
    shown[k] = v;
  }
  return { values, shown };
}

/** A created resource: its physical id stays the same across in-place updates. */
export interface PhysicalResource {
  type: string;
  id: string;
  /** Resolved properties (only kept for monitoring targets, to detect replacement). */
  properties?: Json;
  /** For monitoring targets: the collector's `link`. */
  link?: string;
}

export interface EvalContext {
  template: JsonObject;
  params: Record<string, Json>;
  resources: Record<string, PhysicalResource>;
  stackName: string;
  projectName: string;
}

const hash = (s: string): Buffer => crypto.createHash('sha256').update(s).digest();

/** A MAC in OpenStack's fa:16:3e range, derived from the resource id so it is stable across updates. */
const macFor = (id: string): string =>
  `fa:16:3e:${[...hash(`mac/${id}`).subarray(0, 3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

/** Placeholder MACs the templates pass when none is known; Contrail allocates a real one then. */
const PLACEHOLDER_MACS = new Set(['', 'fe:ff:ff:ff:ff:ff']);

export class Evaluator {
  private depth = 0;

  constructor(private readonly ctx: EvalContext) {}

  resolve(node: Json | undefined): Json {
    if (node === undefined) return null;
    if (Array.isArray(node)) return node.map((n) => this.resolve(n));
    if (!isObject(node)) return node;
    const [fn, ...more] = Object.keys(node);
    const arg = fn === undefined ? undefined : node[fn];
    if (fn !== undefined && arg !== undefined && !more.length && FUNCTIONS.has(fn)) return this.call(fn, arg);
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, this.resolve(v)]));
  }

  /** The resolved properties of one resource. */
  properties(name: string): JsonObject {
    const def = (this.ctx.template.resources as JsonObject)[name];
    // Properties may refer to other resources' attributes; a cycle is a template error.
    if (++this.depth > 50) throw heatError(400, 'CircularDependencyException', `Circular Dependency Found: ${name}`);
    try {
      const props = isObject(def) ? this.resolve(def.properties) : {};
      return isObject(props) ? props : {};
    } finally {
      this.depth -= 1;
    }
  }

  outputs(): JsonObject[] {
    const outs = isObject(this.ctx.template.outputs) ? this.ctx.template.outputs : {};
    return Object.entries(outs).map(([key, def]): JsonObject => {
      const d = isObject(def) ? def : {};
      const description = typeof d.description === 'string' ? d.description : 'No description given';
      try {
        return { output_key: key, output_value: this.resolve(d.value), description };
      } catch (err) {
        return { output_key: key, output_value: null, description, output_error: (err as Error).message };
      }
    });
  }

  private call(fn: string, arg: Json): Json {
    switch (fn) {
      case 'get_param': {
        const [name, ...path] = Array.isArray(arg) ? arg : [arg];
        return dig(
          this.ctx.params[text(name)],
          path.map((p) => this.resolve(p)),
        );
      }
      case 'get_resource':
        return this.physical(text(this.resolve(arg))).id;
      case 'get_attr': {
        const [res, attr, ...path] = (Array.isArray(arg) ? arg : [arg]).map((a) => this.resolve(a));
        return dig(this.attribute(text(res), text(attr)), path);
      }
      case 'list_join': {
        const [delim, ...lists] = Array.isArray(arg) ? arg.map((a) => this.resolve(a)) : [];
        const items = lists.flatMap((l) => (Array.isArray(l) ? l : []));
        return items
          .map((i) => (typeof i === 'string' ? i : JSON.stringify(i)))
          .join(typeof delim === 'string' ? delim : '');
      }
      case 'str_replace': {
        const a = isObject(arg) ? arg : {};
        let out = text(this.resolve(a.template) ?? '');
        const params = this.resolve(a.params);
        // Longest keys first, as Heat does, so `%name%` never eats part of `%name_long%`.
        const entries = isObject(params) ? Object.entries(params).sort(([x], [y]) => y.length - x.length) : [];
        for (const [k, v] of entries)
          out = out.split(k).join(typeof v === 'string' ? v : v === null ? '' : JSON.stringify(v));
        return out;
      }
      default:
        return null;
    }
  }

  private physical(name: string): PhysicalResource {
    const r = this.ctx.resources[name];
    if (!r) throw new Error(`resource ${name} has no physical resource yet`);
    return r;
  }

  /** Plausible attribute values, shaped like the record's stack outputs. */
  attribute(name: string, attr: string): Json {
    const r = this.physical(name);
    if (r.type === MONITORING_TARGET) {
      if (attr === 'link') return r.link ?? `/targets/${r.id}`;
      if (attr === 'id') return r.id;
    }
    const props = this.properties(name);
    if (attr === 'fq_name') return `default-domain:${this.ctx.projectName}:${r.id}`;
    if (attr === 'id') return r.id;
    if (attr === 'show') return { ...props, id: r.id };
    if (attr === 'name')
      return typeof props.name === 'string'
        ? props.name
        : `${this.ctx.stackName}-${name}-${hash(r.id).toString('hex').slice(0, 12)}`;
    if (attr.endsWith('mac_addresses')) {
      const given = Array.isArray(props[attr])
        ? props[attr].filter((m) => typeof m === 'string' && !PLACEHOLDER_MACS.has(m))
        : [];
      return given.length ? given : [macFor(r.id)];
    }
    if (attr.endsWith('allowed_address_pairs')) {
      const v = props[attr];
      if (isObject(v) && 'allowed_address_pair' in v) return v;
      return { allowed_address_pair: Array.isArray(v) ? v : [] };
    }
    if (attr === 'virtual_networks') {
      const nets = Array.isArray(props.virtual_networks) ? props.virtual_networks : [];
      return nets.map((n) => ['default-domain', this.ctx.projectName, text(n)]);
    }
    return props[attr] ?? null;
  }
}

function dig(v: Json | undefined, path: Json[]): Json {
  let cur: Json | undefined = v;
  for (const p of path) {
    if (Array.isArray(cur) && typeof p === 'number') cur = cur[p];
    else if (isObject(cur)) cur = cur[text(p)];
    else return null;
  }
  return cur ?? null;
}
