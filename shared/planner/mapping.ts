/** The parameter_mappings language (docs/PROTOCOL-NOTES.md §a, docs/planner.md); every failure is a MappingError. */
import { isPlainObject } from '../encoding/json-object';
import type {
  Evaluated,
  JsonObject,
  JsonValue,
  Mapping,
  NestedParam,
  OutputKeyRef,
  Param,
  PlanningView,
  ResourceRef,
} from './types';
import type { SchemaIndex } from './schema';

export class MappingError extends Error {
  override name = 'MappingError';
  constructor(
    message: string,
    readonly param: string,
    readonly mapping: Mapping,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface MappingContext {
  /** The resource being planned; the target of an output_key mapping with an empty path. */
  self: ResourceRef;
  body: JsonObject;
  version: number;
  view: Pick<PlanningView, 'resource'>;
  schema: SchemaIndex;
}

/** Where evaluation stands: the object read, its type when a resource, whether it is the planned body. */
type Scope = { obj: JsonValue; type: string | undefined; root?: boolean };
type Plain = { value: JsonValue; resources: ResourceRef[] };

const isObject = (v: unknown): v is JsonObject => isPlainObject<JsonValue>(v);

const short = (m: Mapping): string => {
  const s = JSON.stringify(m) ?? typeof m;
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
};

const outputRef = (output_key: string, ref: ResourceRef): OutputKeyRef => ({ output_key, ...ref });

const value = (v: JsonValue, resources: ResourceRef[] = []) => ({ type: 'value' as const, value: v, resources });

/** Whether a mapping yields a deferred Heat output reference (M form or dict with output_key). */
export function isOutputKeyMapping(m: Mapping): boolean {
  return (typeof m === 'string' && m.startsWith('M')) || (isObject(m) && 'output_key' in m);
}

function typeName(v: JsonValue | undefined): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** JSON holds no undefined: an undefined element or member is a missing one. */
function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => b[i] !== undefined && jsonEqual(x, b[i]));
  if (!isObject(a) || !isObject(b)) return false;
  const ea = Object.entries(a);
  return ea.length === Object.keys(b).length && ea.every(([k, x]) => b[k] !== undefined && jsonEqual(x, b[k]));
}

/** Evaluates `mapping` for the param `param` and shapes it as a job param (seed key order). */
export function evaluateParam(param: string, mapping: Mapping, ctx: MappingContext): Param {
  const ev = new Evaluator(param, mapping, ctx);
  const r = ev.eval(mapping, ev.rootScope);
  return { resources: r.resources, type: r.type, value: r.value, param } as Param;
}

/** Evaluates a mapping to a plain value (template selection, conditions). */
export function evaluateValue(param: string, mapping: Mapping, ctx: MappingContext): Plain {
  const ev = new Evaluator(param, mapping, ctx);
  return ev.plain(mapping, ev.rootScope);
}

class Evaluator {
  readonly rootScope: Scope;

  constructor(
    private readonly param: string,
    private readonly rootMapping: Mapping,
    private readonly ctx: MappingContext,
  ) {
    this.rootScope = { obj: ctx.body, type: ctx.self.resource_type, root: true };
  }

  private fail(m: Mapping, problem: string): never {
    const inner = m === this.rootMapping ? '' : ` (in ${short(m)})`;
    const message = `param "${this.param}": mapping ${short(this.rootMapping)}${inner}: ${problem}`;
    throw new MappingError(message, this.param, this.rootMapping);
  }

  private member(m: JsonObject, key: string, problem: string): JsonValue {
    return m[key] === undefined ? this.fail(m, problem) : m[key];
  }

  eval(m: Mapping, scope: Scope): Evaluated {
    if (typeof m === 'string') return this.evalString(m, scope);
    if (isObject(m)) return this.evalDict(m, scope);
    const kind = m === null ? 'null' : Array.isArray(m) ? 'list' : typeof m;
    return this.fail(m, `unknown mapping form (a ${kind}); use a string form or a dict form`);
  }

  /** A string form: its first character names it, the rest is its argument. */
  private evalString(m: string, scope: Scope): Evaluated {
    const arg = m.slice(1);
    switch (m.charAt(0)) {
      case 'P':
        return value(this.field(m, scope, arg));
      case 'C':
        return value(arg);
      case 'V':
        return value(this.ctx.version);
      case 'O': {
        const [objField, key, ...rest] = arg.split(':');
        if (!objField || !key || rest.length) this.fail(m, 'O needs the form O<object_field>:<key>');
        const inner = this.field(m, scope, objField);
        if (!isObject(inner)) this.fail(m, `field "${objField}" is ${typeName(inner)}, not an object`);
        return value(this.field(m, { obj: inner, type: undefined }, key, objField));
      }
      case 'F': {
        const hops = arg.split(':');
        const finalField = hops.pop();
        if (!finalField || hops.length === 0) this.fail(m, 'F needs at least one hop: F<type>+<id_field>:...:<field>');
        const path = hops.map((hop) => {
          const [type, id, ...more] = hop.split('+');
          return !type || !id || more.length ? this.fail(m, `hop "${hop}" is not <type>+<id_field>`) : { type, id };
        });
        const walked = this.walk(m, scope, path, false)!;
        return value(this.field(m, walked.scope, finalField), walked.resources);
      }
      case 'M': {
        const [type, idField, outputKey, ...rest] = arg.split(':');
        if (!type || !idField || !outputKey || rest.length)
          this.fail(m, 'M needs the form M<type>:<id_field>:<output_key>');
        const { ref } = this.hop(m, scope, type, idField, false)!;
        return { type: 'output_key', value: outputRef(outputKey, ref), resources: [ref] };
      }
      case 'A':
        return this.evalConcat(m, arg, scope);
      default:
        return this.fail(m, `unknown operator "${m.charAt(0)}" (expected one of P C V F M O A)`);
    }
  }

  private evalConcat(m: string, arg: string, scope: Scope): Evaluated {
    let text = '';
    const resources: ResourceRef[] = [];
    for (const part of arg.split('&')) {
      if (part.startsWith('A')) this.fail(m, 'A cannot be nested');
      const r = this.evalString(part, scope);
      if (r.type !== 'value')
        this.fail(m, `"${part}" yields a deferred output reference, which cannot be concatenated`);
      text += this.pyStr(m, part, r.value);
      resources.push(...r.resources);
    }
    return value(text, resources);
  }

  /** Python's str() of a scalar, as the original planner concatenated with it. */
  private pyStr(m: Mapping, part: string, v: JsonValue): string {
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    if (typeof v === 'boolean') return v ? 'True' : 'False';
    if (v === null) return 'None';
    return this.fail(m, `"${part}" is ${typeName(v)}; only scalars can be concatenated`);
  }

  /** Dict forms: the first whose operator is among the keys names a mapping; the keys it allows; its evaluation. */
  private readonly dictForms: Array<[string, string[], (m: JsonObject, scope: Scope) => Evaluated]> = [
    ['constant', ['constant'], (m) => value(this.member(m, 'constant', '"constant" needs a value'))],
    ['version', ['version'], () => value(this.ctx.version)],
    ['if_mapping', ['if_mapping', 'then_mapping', 'else_mapping'], (m, scope) => this.evalIf(m, scope)],
    ['for_field', ['for_field', 'for_mapping'], (m, scope) => this.evalFor(m, scope)],
    ['output_key', ['output_key', 'path'], (m, scope) => this.evalOutputKey(m, scope)],
    ['field', ['field', 'path', 'ignore_missing'], (m, scope) => this.evalField(m, scope)],
  ];

  private evalDict(m: JsonObject, scope: Scope): Evaluated {
    const form = this.dictForms.find(([key]) => key in m);
    if (!form) {
      const forms = this.dictForms.map(([k]) => k).join(', ');
      const keys = Object.keys(m).join(', ') || 'none';
      return this.fail(m, `unknown operator: none of ${forms} present (keys: ${keys})`);
    }
    const [name, allowed, evaluate] = form;
    const extra = Object.keys(m).filter((k) => !allowed.includes(k));
    if (extra.length) this.fail(m, `unknown key(s) ${extra.map((k) => `"${k}"`).join(', ')} in a "${name}" mapping`);
    return evaluate(m, scope);
  }

  private evalIf(m: JsonObject, scope: Scope): Evaluated {
    const cond = m.if_mapping;
    const both = 'if_mapping needs both then_mapping and else_mapping';
    const thenMapping = this.member(m, 'then_mapping', both);
    const elseMapping = this.member(m, 'else_mapping', both);
    if (!isObject(cond)) return this.fail(m, 'if_mapping must be {"equal"|"regexp": [mapping, mapping]}');
    const ops = Object.keys(cond);
    const [op] = ops;
    if (ops.length !== 1 || (op !== 'equal' && op !== 'regexp')) {
      const named = ops.map((o) => `"${o}"`).join(', ') || '(none)';
      return this.fail(m, `unknown condition operator ${named} (expected "equal" or "regexp")`);
    }
    const operands = cond[op];
    const [l, r, ...more] = Array.isArray(operands) ? operands : [];
    if (l === undefined || r === undefined || more.length) return this.fail(m, `"${op}" needs a list of two mappings`);
    const left = this.plain(l, scope);
    const right = this.plain(r, scope);
    const holds = op === 'equal' ? jsonEqual(left.value, right.value) : this.matches(m, left.value, right.value);
    const branch = this.eval(holds ? thenMapping : elseMapping, scope);
    return { ...branch, resources: [...left.resources, ...right.resources, ...branch.resources] };
  }

  /** Python re.match semantics: anchored at the start only. */
  private matches(m: Mapping, subject: JsonValue, pattern: JsonValue): boolean {
    if (typeof subject !== 'string') this.fail(m, `regexp subject is ${typeName(subject)}, not a string`);
    if (typeof pattern !== 'string') return this.fail(m, `regexp pattern is ${typeName(pattern)}, not a string`);
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${pattern})`);
    } catch (e) {
      return this.fail(m, `invalid regexp ${JSON.stringify(pattern)}: ${(e as Error).message}`);
    }
    return re.test(subject);
  }

  private evalFor(m: JsonObject, scope: Scope): Evaluated {
    const forMapping = this.member(m, 'for_mapping', 'for_field needs a for_mapping');
    const source = this.member(m, 'for_field', 'for_field needs a field name or a mapping');
    const { value: items, resources } =
      typeof source === 'string' ? value(this.field(m, scope, source)) : this.plain(source, scope);
    if (!Array.isArray(items)) return this.fail(m, `for_field ${short(source)} is ${typeName(items)}, not a list`);
    const deferred = isOutputKeyMapping(forMapping);
    const nested: NestedParam[] = [];
    const values: JsonValue[] = [];
    for (const item of items) {
      const r = this.eval(forMapping, { obj: item, type: undefined });
      resources.push(...r.resources);
      if (deferred && r.type !== 'output_key')
        this.fail(forMapping, `an element yields ${r.type}, but this for_mapping yields output references`);
      if (!deferred && r.type !== 'value')
        this.fail(forMapping, `an element yields a deferred ${r.type} reference; use an output_key for_mapping`);
      if (r.type === 'output_key')
        nested.push({ param: this.param, type: 'output_key', value: r.value, resources: [] });
      if (r.type === 'value') values.push(r.value);
    }
    return deferred ? { type: 'list', value: nested, resources } : value(values, resources);
  }

  private evalOutputKey(m: JsonObject, scope: Scope): Evaluated {
    if (typeof m.output_key !== 'string' || !m.output_key) this.fail(m, 'output_key must be a non-empty string');
    const { resources } = this.walk(m, scope, m.path ?? [], false)!;
    const target = resources.at(-1) ?? (scope.root ? this.ctx.self : undefined);
    const unknownSelf =
      'an output_key with an empty path refers to the resource itself, which is unknown inside a for_mapping element';
    if (!target) return this.fail(m, unknownSelf);
    return { type: 'output_key', value: outputRef(m.output_key, target), resources };
  }

  private evalField(m: JsonObject, scope: Scope): Evaluated {
    if (typeof m.field !== 'string' || !m.field) this.fail(m, '"field" must be a non-empty string');
    if (m.ignore_missing !== undefined && typeof m.ignore_missing !== 'boolean')
      this.fail(m, '"ignore_missing" must be true or false');
    const walked = this.walk(m, scope, m.path ?? [], m.ignore_missing === true);
    if (!walked) return value('');
    // Unlike P/F/O, a missing field reads as null (Python's dict.get; docs/planner.md).
    const obj = walked.scope.obj;
    if (isObject(obj) && !(m.field in obj)) return value(null, walked.resources);
    return value(this.field(m, walked.scope, m.field), walked.resources);
  }

  /** Follows a path of id fields; undefined when a hop is missing and ignoreMissing is set. */
  private walk(m: Mapping, scope: Scope, path: JsonValue, ignoreMissing: boolean) {
    if (!Array.isArray(path)) return this.fail(m, `"path" is ${typeName(path)}, not a list`);
    const resources: ResourceRef[] = [];
    let cur = scope;
    for (const el of path) {
      let type: string | undefined;
      let idField: string;
      if (typeof el === 'string') {
        [type, idField] = [this.ctx.schema.relation(cur.type, el), el];
        const field = `id field "${el}" of ${cur.type ?? 'a list element'}`;
        if (!type)
          this.fail(m, `cannot tell which resource type ${field} points at; write {"type": ..., "id": "${el}"}`);
      } else if (isObject(el) && typeof el.type === 'string' && typeof el.id === 'string') {
        [type, idField] = [el.type, el.id];
      } else {
        return this.fail(m, `path element ${short(el)} is neither an id field name nor {"type", "id"}`);
      }
      const next = this.hop(m, cur, type, idField, ignoreMissing);
      if (!next) return undefined;
      resources.push(next.ref);
      cur = next.scope;
    }
    return { scope: cur, resources };
  }

  /** One foreign-key hop: read the id (`""`: the element itself), load the resource. */
  private hop(m: Mapping, scope: Scope, type: string, idField: string, ignoreMissing: boolean) {
    if (idField !== '' && !isObject(scope.obj))
      return this.fail(m, `cannot read id field "${idField}" from ${typeName(scope.obj)}`);
    const id = idField === '' ? scope.obj : (scope.obj as JsonObject)[idField];
    const where = idField === '' ? 'the list element' : `field "${idField}"`;
    if (id === undefined || id === null || id === '') {
      if (ignoreMissing) return undefined;
      const is = id === undefined ? 'missing' : JSON.stringify(id);
      return this.fail(m, `${where} is ${is}, so no ${type} can be followed`);
    }
    if (typeof id !== 'string') return this.fail(m, `${where} is ${typeName(id)}, not a ${type} id`);
    const found = this.ctx.view.resource(type, id);
    if (!found)
      return ignoreMissing ? undefined : this.fail(m, `referenced ${type} ${id} (from ${where}) does not exist`);
    return { ref: { resource_type: type, resource_id: id }, scope: { obj: found.body as JsonObject, type } };
  }

  private field(m: Mapping, scope: Scope, name: string, parent?: string): JsonValue {
    const owner = parent ? `object field "${parent}"` : scope.type ? scope.type : 'the list element';
    if (!isObject(scope.obj)) return this.fail(m, `cannot read field "${name}" from ${typeName(scope.obj)}`);
    const v = scope.obj[name];
    return v === undefined ? this.fail(m, `field "${name}" is missing in ${owner}`) : v;
  }

  plain(m: Mapping, scope: Scope): Plain {
    const r = this.eval(m, scope);
    if (r.type !== 'value') return this.fail(m, `yields a deferred ${r.type} reference where a plain value is needed`);
    return r;
  }
}
