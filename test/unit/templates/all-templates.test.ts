/**
 * Every shipped template renders with a job's params and gives a valid HOT document; every
 * variable a template can read (all branches) is one of its jinja_* parameter mappings.
 */
import { parseHot, renderHotTemplate, splitJobParams, validateHot } from '../../../shared/templates/render';
import { fixture, hasFixture, shipped, templateVariables } from './helpers';

const all = Object.values(shipped());
const heat = all.filter((t) => t.handler === 'heat_worker');
const other = all.filter((t) => t.handler !== 'heat_worker');

describe('shipped templates', () => {
  it('include the 50 heat templates of the record', () => {
    expect(heat.length).toBeGreaterThanOrEqual(50);
    for (const id of ['port', 'network', 'subnet', 'aws_interface', 'common_function_gateway', 'vnf_instance']) {
      expect(shipped()[id]?.handler).toBe('heat_worker');
    }
  });

  it('no longer contain Jinja-only syntax', () => {
    for (const t of all) {
      // Jinja statements/expressions that Liquid lacks or reads differently.
      expect({
        id: t.id,
        hits: t.template_file.match(
          /\{%-?\s*set\s|\bloop\.index|\.split\(|\bis defined\b|\|\s*length\b|\{%-?\s*for\s+\w+\s+in\s+\[/g,
        ),
      }).toEqual({ id: t.id, hits: null });
    }
  });
});

describe.each(heat.map((t) => [t.id, t] as const))('heat template %s', (id, t) => {
  it('has a params fixture with exactly its parameter_mappings keys, in order', () => {
    expect(hasFixture(id)).toBe(true);
    expect(Object.keys(fixture(id).params)).toEqual(Object.keys(t.parameter_mappings));
  });

  it('reads only its own jinja_* params', () => {
    const jinjaKeys = Object.keys(t.parameter_mappings).filter((k) => k.startsWith('jinja_'));
    const used = templateVariables(t.template_file);
    expect(used.filter((v) => !jinjaKeys.includes(v))).toEqual([]);
  });

  it('renders to YAML that is a valid HOT document for its stack params', () => {
    const { jinjaVars, stackParams } = splitJobParams(fixture(id).params);
    const doc = parseHot(renderHotTemplate(t.template_file, jinjaVars, id));
    expect(validateHot(doc, stackParams)).toEqual([]);
    expect(Object.keys(doc.resources as object).length).toBeGreaterThan(0);
  });
});

// Templates of other handlers (e.g. port_monitoring, owned by the template_mappings work) are
// not HOT; only check that they render to YAML with their params.
describe.each(other.map((t) => [t.id, t] as const))('%s (non-heat template)', (id, t) => {
  const run = hasFixture(id) ? it : it.skip;
  run('renders to YAML with its params', () => {
    const text = renderHotTemplate(t.template_file, fixture(id).params, id);
    expect(parseHot(text)).toEqual(expect.any(Object));
  });

  it('reads only its parameter_mappings', () => {
    const used = templateVariables(t.template_file);
    expect(used.filter((v) => !(v in t.parameter_mappings))).toEqual([]);
  });
});
