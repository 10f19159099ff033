import {
  HotParseError,
  TemplateRenderError,
  parseHot,
  renderHotTemplate,
  splitJobParams,
  validateHot,
} from '../../../shared/templates/render';
import { fixture, template, templateVariables } from './helpers';

function renderError(fn: () => unknown): TemplateRenderError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TemplateRenderError);
    return e as TemplateRenderError;
  }
  throw new Error('expected a TemplateRenderError');
}

describe('renderHotTemplate', () => {
  it('fails on an undefined variable, naming the template and the variable', () => {
    const { jinjaVars } = splitJobParams(fixture('port').params);
    delete jinjaVars.jinja_fixed_ips;
    const err = renderError(() => renderHotTemplate(template('port').template_file, jinjaVars, 'port'));
    expect(err.templateId).toBe('port');
    expect(err.variable).toBe('jinja_fixed_ips');
    expect(err.message).toMatch(
      /^template "port": undefined variable "jinja_fixed_ips" \(template_file line \d+, col \d+\)/,
    );
    expect(err.line).toBeGreaterThan(1);
  });

  it('fails on an undefined nested property and inside a condition', () => {
    expect(renderError(() => renderHotTemplate('ip: {{ fixed_ip.ip_address }}', { fixed_ip: {} }, 't1')).variable).toBe(
      'fixed_ip.ip_address',
    );
    expect(renderError(() => renderHotTemplate('{% if jinja_attached %}x{% endif %}', {}, 't2')).variable).toBe(
      'jinja_attached',
    );
  });

  it('fails on an unknown filter (Jinja filters are not Liquid filters)', () => {
    const err = renderError(() => renderHotTemplate('{{ jinja_x | length }}', { jinja_x: [1] }, 'tf'));
    expect(err.message).toContain('template "tf": undefined filter "length"');
  });

  it('reports Liquid syntax errors with the template id', () => {
    expect(renderError(() => renderHotTemplate('{% if %}', {}, 'bad')).message).toMatch(/^template "bad": /);
  });

  it('renders null as empty and does not escape output', () => {
    expect(renderHotTemplate('a: {{ jinja_n }}|b: {{ jinja_s }}', { jinja_n: null, jinja_s: '<x & "y">' })).toBe(
      'a: |b: <x & "y">',
    );
  });

  it('does not expose prototype properties of params', () => {
    expect(() => renderHotTemplate('{{ jinja_o.constructor }}', { jinja_o: {} })).toThrow(TemplateRenderError);
  });
});

describe('templateVariables', () => {
  it('lists global variables of every branch, not loop locals or assigns', () => {
    const t =
      '{% assign s = jinja_a | split: "/" %}{% for d in jinja_l %}{{ d }}{{ s[0] }}{% endfor %}{% if false %}{{ jinja_b }}{% endif %}';
    expect(templateVariables(t).sort()).toEqual(['jinja_a', 'jinja_b', 'jinja_l']);
  });
});

describe('splitJobParams', () => {
  it('gives jinja_* to the template, the rest to Heat, heat_timeout to neither', () => {
    expect(splitJobParams({ jinja_a: 1, name: 'n', heat_timeout: '13', version: 2 })).toEqual({
      jinjaVars: { jinja_a: 1 },
      stackParams: { name: 'n', version: 2 },
    });
  });
});

describe('parseHot', () => {
  it('keeps heat_template_version a string', () => {
    expect(parseHot('heat_template_version: 2013-05-23\nresources: {}\n').heat_template_version).toBe('2013-05-23');
  });

  it('rejects duplicate keys (e.g. a loop emitting one resource name twice)', () => {
    expect(() => parseHot('resources:\n  a: 1\n  a: 2\n')).toThrow(HotParseError);
  });

  it('rejects invalid YAML and non-mappings', () => {
    expect(() => parseHot('a: [1\n')).toThrow(/not valid YAML/);
    expect(() => parseHot('- 1\n')).toThrow(/not a YAML mapping/);
    expect(() => parseHot('')).toThrow(/not a YAML mapping/);
  });

  it('parses a text once and hands every job the same frozen document, which none can change', () => {
    const text =
      'heat_template_version: 2013-05-23\nresources:\n  net:\n    type: OS::Neutron::Net\n    properties: {name: n}\n';
    const first = parseHot(text);
    expect(parseHot(text)).toBe(first);
    expect(first).toEqual({
      heat_template_version: '2013-05-23',
      resources: { net: { type: 'OS::Neutron::Net', properties: { name: 'n' } } },
    });
    const props = (first.resources as Record<string, { properties: Record<string, unknown> }>).net!.properties;
    expect(() => {
      props.name = 'changed';
    }).toThrow(TypeError);
    expect(props.name).toBe('n');
  });
});

describe('validateHot', () => {
  const good = {
    heat_template_version: '2013-05-23',
    parameters: { name: { type: 'string' } },
    resources: { r: { type: 'OS::Heat::None' } },
    outputs: {},
  };

  it('accepts a complete document; jinja_* and heat_timeout need no declaration', () => {
    expect(validateHot(good, { name: 'x', jinja_foo: 1, heat_timeout: '13' })).toEqual([]);
  });

  it('reports each missing piece', () => {
    expect(validateHot({ parameters: {} }, { name: 'x' })).toEqual([
      'heat_template_version is missing',
      'parameter "name" is passed but not declared under parameters',
      'resources is missing or not a mapping',
      'outputs is missing or not a mapping',
    ]);
  });

  it('reports an undeclared stack param when parameters is absent', () => {
    const { parameters: _unused, ...noParams } = good;
    expect(validateHot(noParams, { name: 'x' })).toEqual([
      'parameter "name" is passed but not declared under parameters',
    ]);
  });
});
