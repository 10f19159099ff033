/**
 * The parameter_mappings language (docs/PROTOCOL-NOTES.md §a): evaluates one mapping against a resource
 * body and returns its value, its param type and the resources visited on the way.
 *
 * Every failure is a MappingError naming the param and the mapping; nothing is silently dropped.
 */
import { DICT_FORMS, isObject, isOutputKeyMapping, jsonEqual, outputRef, short, typeName } from './mapping-forms';
import type {
  JsonObject,
  JsonValue,
  Mapping,
  NestedParam,
  OutputKeyRef,
  Param,
  PlanningView,
  ResourceRef,
  SchemaLookup,
} from './types';

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

export type Evaluated =
  | { kind: 'value'; value: JsonValue; resources: ResourceRef[] }
  | { kind: 'output_key'; value: OutputKeyRef; resources: ResourceRef[] }
  | { kind: 'list'; value: NestedParam[]; resources: ResourceRef[] };

export interface MappingContext {
  /** The resource being planned; the target of an output_key mapping with an empty path. */
  self: ResourceRef;
  body: JsonObject;
  version: number;
  view: Pick<PlanningView, 'resource'>;
  schema: SchemaLookup;
}

/** Where evaluation stands: the object fields are read from, and its type when it is a resource. */
interface Scope {
  obj: JsonValue;
  type: string | undefined;
  /** The planned resource's own body (not a hop target, not a list element). */
  root?: boolean;
}

/** Evaluates `mapping` for the param `param` and shapes it as a job param (seed key order). */
export function evaluateParam(param: string, mapping: Mapping, ctx: MappingContext): Param {
  const r = new Evaluator(param, mapping, ctx).run();
  if (r.kind === 'output_key') return { resources: r.resources, type: 'output_key', value: r.value, param };
  if (r.kind === 'list') return { resources: r.resources, type: 'list', value: r.value, param };
  return { resources: r.resources, type: 'value', value: r.value, param };
}

/** Evaluates a mapping to a plain value (template selection, conditions). */
export function evaluateValue(
  param: string,
  mapping: Mapping,
  ctx: MappingContext,
): { value: JsonValue; resources: ResourceRef[] } {
  const ev = new Evaluator(param, mapping, ctx);
  const r = ev.run();
  if (r.kind !== 'value')
    throw new MappingError(
      ev.describe(mapping, `yields a deferred ${r.kind} reference where a plain value is needed`),
      param,
      mapping,
    );
  return { value: r.value, resources: r.resources };
}

export { isOutputKeyMapping } from './mapping-forms';

class Evaluator {
  constructor(
    private readonly param: string,
    private readonly rootMapping: Mapping,
    private readonly ctx: MappingContext,
  ) {}

  run(): Evaluated {
    return this.eval(this.rootMapping, { obj: this.ctx.body, type: this.ctx.self.resource_type, root: true });
  }

  describe(m: Mapping, problem: string): string {
    const inner = m === this.rootMapping ? '' : ` (in ${short(m)})`;
    return `param "${this.param}": mapping ${short(this.rootMapping)}${inner}: ${problem}`;
  }

  private fail(m: Mapping, problem: string): never {
    throw new MappingError(this.describe(m, problem), this.param, this.rootMapping);
  }

  /** A key the mapping's form requires (JSON holds no undefined: undefined is a missing key). */
  private member(m: JsonObject, key: string, problem: string): JsonValue {
    const v = m[key];
    return v === undefined ? this.fail(m, problem) : v;
  }

  private eval(m: Mapping, scope: Scope): Evaluated {
    if (typeof m === 'string') return this.evalString(m, scope);
    if (isObject(m)) return this.evalDict(m, scope);
    return this.fail(
      m,
      `unknown mapping form (a ${m === null ? 'null' : Array.isArray(m) ? 'list' : typeof m}); use a string form or a dict form`,
    );
  }

  /** A string form: its first character names it (P, C, V, O, F, …), the rest is its argument. */
  private evalString(m: string, scope: Scope): Evaluated {
    const op = m.charAt(0);
    const arg = m.slice(1);
    switch (op) {
      case 'P':
        return { kind: 'value', value: this.field(m, scope, arg), resources: [] };
      case 'C':
        return { kind: 'value', value: arg, resources: [] };
      case 'V':
        return { kind: 'value', value: this.ctx.version, resources: [] };
      case 'O': {
        const [objField, key, ...rest] = arg.split(':');
        if (!objField || !key || rest.length) this.fail(m, 'O needs the form O<object_field>:<key>');
        const inner = this.field(m, scope, objField);
        if (!isObject(inner)) this.fail(m, `field "${objField}" is ${typeName(inner)}, not an object`);
        return { kind: 'value', value: this.field(m, { obj: inner, type: undefined }, key, objField), resources: [] };
      }
      case 'F':
        return this.evalF(m, arg, scope);
      case 'M':
        return this.evalM(m, arg, scope);
      case 'A':
        return this.evalConcat(m, arg, scope);
      default:
        return this.fail(m, `unknown operator "${op}" (expected one of P C V F M O A)`);
    }
  }

  private evalF(m: string, arg: string, scope: Scope): Evaluated {
    const parts = arg.split(':');
    const finalField = parts.pop();
    if (!finalField || parts.length === 0) this.fail(m, 'F needs at least one hop: F<type>+<id_field>:...:<field>');
    const resources: ResourceRef[] = [];
    let cur: Scope = scope;
    for (const hop of parts) {
      const [type, idField, ...rest] = hop.split('+');
      if (!type || !idField || rest.length) this.fail(m, `hop "${hop}" is not <type>+<id_field>`);
      const ref = this.hop(m, cur, type, idField, false);
      if (!ref) return this.fail(m, 'unreachable'); // ignore_missing is false, hop() throws instead
      resources.push(ref.ref);
      cur = ref.scope;
    }
    return { kind: 'value', value: this.field(m, cur, finalField), resources };
  }

  private evalM(m: string, arg: string, scope: Scope): Evaluated {
    const [type, idField, outputKey, ...rest] = arg.split(':');
    if (!type || !idField || !outputKey || rest.length)
      this.fail(m, 'M needs the form M<type>:<id_field>:<output_key>');
    const ref = this.hop(m, scope, type, idField, false);
    if (!ref) return this.fail(m, 'unreachable');
    return { kind: 'output_key', value: outputRef(outputKey, ref.ref), resources: [ref.ref] };
  }

  private evalConcat(m: string, arg: string, scope: Scope): Evaluated {
    let text = '';
    const resources: ResourceRef[] = [];
    for (const part of arg.split('&')) {
      if (part.startsWith('A')) this.fail(m, 'A cannot be nested');
      const r = this.evalString(part, scope);
      if (r.kind !== 'value')
        this.fail(m, `"${part}" yields a deferred output reference, which cannot be concatenated`);
      text += this.pyStr(m, part, r.value);
      resources.push(...r.resources);
    }
    return { kind: 'value', value: text, resources };
  }

  /** Python's str() of a scalar, as the original planner concatenated with it. */
  private pyStr(m: Mapping, part: string, v: JsonValue): string {
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    if (v === true) return 'True';
    if (v === false) return 'False';
    if (v === null) return 'None';
    return this.fail(m, `"${part}" is ${typeName(v)}; only scalars can be concatenated`);
  }

  /** A dict form: the first operator of DICT_FORMS among its keys names it. */
  private evalDict(m: JsonObject, scope: Scope): Evaluated {
    const form = DICT_FORMS.find(([key]) => key in m);
    if (!form)
      return this.fail(
        m,
        `unknown operator: none of ${DICT_FORMS.map(([k]) => k).join(', ')} present (keys: ${Object.keys(m).join(', ') || 'none'})`,
      );
    const extra = Object.keys(m).filter((k) => !form[1].includes(k));
    if (extra.length) this.fail(m, `unknown key(s) ${extra.map((k) => `"${k}"`).join(', ')} in a "${form[0]}" mapping`);
    switch (form[0]) {
      case 'constant':
        return { kind: 'value', value: this.member(m, 'constant', '"constant" needs a value'), resources: [] };
      case 'version':
        return { kind: 'value', value: this.ctx.version, resources: [] };
      case 'if_mapping':
        return this.evalIf(m, scope);
      case 'for_field':
        return this.evalFor(m, scope);
      case 'output_key':
        return this.evalOutputKey(m, scope);
      default:
        return this.evalField(m, scope);
    }
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
      return this.fail(
        m,
        `unknown condition operator ${ops.map((o) => `"${o}"`).join(', ') || '(none)'} (expected "equal" or "regexp")`,
      );
    }
    const operands = cond[op];
    const [l, r, ...more] = Array.isArray(operands) ? operands : [];
    if (l === undefined || r === undefined || more.length) return this.fail(m, `"${op}" needs a list of two mappings`);
    const left = this.plain(l, scope);
    const right = this.plain(r, scope);
    let holds: boolean;
    if (op === 'equal') {
      holds = jsonEqual(left.value, right.value);
    } else {
      if (typeof left.value !== 'string') this.fail(m, `regexp subject is ${typeName(left.value)}, not a string`);
      if (typeof right.value !== 'string') this.fail(m, `regexp pattern is ${typeName(right.value)}, not a string`);
      holds = this.regexp(m, right.value).test(left.value);
    }
    const branch = this.eval(holds ? thenMapping : elseMapping, scope);
    return { ...branch, resources: [...left.resources, ...right.resources, ...branch.resources] };
  }

  /** Python re.match semantics: anchored at the start only. */
  private regexp(m: Mapping, pattern: string): RegExp {
    try {
      return new RegExp(`^(?:${pattern})`);
    } catch (e) {
      return this.fail(m, `invalid regexp ${JSON.stringify(pattern)}: ${(e as Error).message}`);
    }
  }

  private evalFor(m: JsonObject, scope: Scope): Evaluated {
    const forMapping = this.member(m, 'for_mapping', 'for_field needs a for_mapping');
    const source = this.member(m, 'for_field', 'for_field needs a field name or a mapping');
    let items: JsonValue;
    const resources: ResourceRef[] = [];
    if (typeof source === 'string') {
      items = this.field(m, scope, source);
    } else {
      const r = this.plain(source, scope);
      items = r.value;
      resources.push(...r.resources);
    }
    if (!Array.isArray(items)) return this.fail(m, `for_field ${short(source)} is ${typeName(items)}, not a list`);
    const deferred = isOutputKeyMapping(forMapping);
    const nested: NestedParam[] = [];
    const values: JsonValue[] = [];
    for (const item of items) {
      const r = this.eval(forMapping, { obj: item, type: undefined });
      resources.push(...r.resources);
      if (deferred) {
        if (r.kind !== 'output_key')
          this.fail(forMapping, `an element yields ${r.kind}, but this for_mapping yields output references`);
        nested.push({ param: this.param, type: 'output_key', value: r.value, resources: [] });
      } else {
        if (r.kind !== 'value')
          this.fail(forMapping, `an element yields a deferred ${r.kind} reference; use an output_key for_mapping`);
        values.push(r.value);
      }
    }
    return deferred ? { kind: 'list', value: nested, resources } : { kind: 'value', value: values, resources };
  }

  private evalOutputKey(m: JsonObject, scope: Scope): Evaluated {
    if (typeof m.output_key !== 'string' || !m.output_key) this.fail(m, 'output_key must be a non-empty string');
    const walked = this.walk(m, scope, m.path ?? [], false);
    if (!walked) return this.fail(m, 'unreachable');
    const target = walked.resources.at(-1) ?? (scope.root ? this.ctx.self : undefined);
    if (!target)
      return this.fail(
        m,
        'an output_key with an empty path refers to the resource itself, which is unknown inside a for_mapping element',
      );
    return { kind: 'output_key', value: outputRef(m.output_key, target), resources: walked.resources };
  }

  private evalField(m: JsonObject, scope: Scope): Evaluated {
    if (typeof m.field !== 'string' || !m.field) this.fail(m, '"field" must be a non-empty string');
    const ignoreMissing = m.ignore_missing === true;
    if (m.ignore_missing !== undefined && typeof m.ignore_missing !== 'boolean')
      this.fail(m, '"ignore_missing" must be true or false');
    const walked = this.walk(m, scope, m.path ?? [], ignoreMissing);
    if (!walked) return { kind: 'value', value: '', resources: [] };
    // Unlike P/F/O, the dict form reads like Python's dict.get: the record's load_balancer_conf v1
    // body has no default_gateway and its job carries `"default_gateway": null`.
    const obj = walked.scope.obj;
    if (isObject(obj) && !(m.field in obj)) return { kind: 'value', value: null, resources: walked.resources };
    return { kind: 'value', value: this.field(m, walked.scope, m.field), resources: walked.resources };
  }

  /** Follows a dict-form path. Returns undefined when a hop is missing and ignoreMissing is set. */
  private walk(
    m: Mapping,
    scope: Scope,
    path: JsonValue,
    ignoreMissing: boolean,
  ): { scope: Scope; resources: ResourceRef[] } | undefined {
    if (!Array.isArray(path)) return this.fail(m, `"path" is ${typeName(path)}, not a list`);
    const resources: ResourceRef[] = [];
    let cur = scope;
    for (const el of path) {
      let type: string | undefined;
      let idField: string;
      if (typeof el === 'string') {
        idField = el;
        type = this.ctx.schema.relation(cur.type, el);
        if (!type)
          this.fail(
            m,
            `cannot tell which resource type id field "${el}" of ${cur.type ?? 'a list element'} points at; write {"type": ..., "id": "${el}"}`,
          );
      } else if (isObject(el) && typeof el.type === 'string' && typeof el.id === 'string') {
        type = el.type;
        idField = el.id;
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

  /** One foreign-key hop: read the id (`""` = the element itself), load the resource. */
  private hop(
    m: Mapping,
    scope: Scope,
    type: string,
    idField: string,
    ignoreMissing: boolean,
  ): { ref: ResourceRef; scope: Scope } | undefined {
    let id: JsonValue | undefined;
    if (idField === '') {
      id = scope.obj;
    } else {
      if (!isObject(scope.obj)) return this.fail(m, `cannot read id field "${idField}" from ${typeName(scope.obj)}`);
      id = scope.obj[idField];
    }
    const where = idField === '' ? 'the list element' : `field "${idField}"`;
    if (id === undefined || id === null || id === '') {
      if (ignoreMissing) return undefined;
      return this.fail(
        m,
        `${where} is ${id === undefined ? 'missing' : JSON.stringify(id)}, so no ${type} can be followed`,
      );
    }
    if (typeof id !== 'string') return this.fail(m, `${where} is ${typeName(id)}, not a ${type} id`);
    const found = this.ctx.view.resource(type, id);
    if (!found) {
      if (ignoreMissing) return undefined;
      return this.fail(m, `referenced ${type} ${id} (from ${where}) does not exist`);
    }
    return { ref: { resource_type: type, resource_id: id }, scope: { obj: found.body as JsonObject, type } };
  }

  private field(m: Mapping, scope: Scope, name: string, parent?: string): JsonValue {
    const owner = parent ? `object field "${parent}"` : scope.type ? `${scope.type}` : 'the list element';
    if (!isObject(scope.obj)) return this.fail(m, `cannot read field "${name}" from ${typeName(scope.obj)}`);
    const v = scope.obj[name];
    return v === undefined ? this.fail(m, `field "${name}" is missing in ${owner}`) : v;
  }

  private plain(m: Mapping, scope: Scope): { value: JsonValue; resources: ResourceRef[] } {
    const r = this.eval(m, scope);
    if (r.kind !== 'value') return this.fail(m, `yields a deferred ${r.kind} reference where a plain value is needed`);
    return r;
  }
}
