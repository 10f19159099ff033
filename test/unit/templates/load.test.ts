import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  TemplateLoadError,
  loadHeatTemplatesDir,
  loadTemplates,
  parseHeatTemplateYaml,
} from '../../../shared/templates/load';
import { get } from '../../helpers/at';

/** A folder under the run's test root (removed by the global teardown), or one removed after this file. */
const made: string[] = [];
afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function tmpRoot(): string {
  const dir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'esi-templates-'));
  made.push(dir);
  return dir;
}

const MINIMAL =
  'id: x\nhandler: heat_worker\nwatch: []\nparameter_mappings:\n  b: Pb\n  a: Pa\ntemplate_file: |\n  heat_template_version: 2013-05-23\n';

describe('loadTemplates (shipped templates/)', () => {
  const { templates, templateMappings } = loadTemplates();

  it('reads every heat template with all five fields', () => {
    expect(Object.keys(templates).length).toBeGreaterThanOrEqual(50);
    for (const t of Object.values(templates)) {
      expect(Object.keys(t).sort()).toEqual(['handler', 'id', 'parameter_mappings', 'template_file', 'watch']);
      expect(t.template_file.startsWith('heat_template_version') || t.handler !== 'heat_worker').toBe(true);
    }
  });

  it('keeps the record key order of parameter_mappings (job param order depends on it)', () => {
    // Order as in the record's heat_templates/port.json (Python-2 dict order, not sorted).
    const port = get(templates, 'port', 'templates');
    expect(Object.keys(port.parameter_mappings)).toEqual([
      'jinja_attached',
      'virtual_network',
      'virtual_machine',
      'name',
      'admin_state_up',
      'tenant_id',
      'heat_timeout',
      'virtual_machine_interface_allowed_address_pairs',
      'virtual_machine_interface_mac_address',
      'device_owner',
      'version',
      'security_groups',
      'jinja_force_dependency_gw_interface',
      'jinja_fixed_ips',
      'jinja_force_dependency_cfg',
      'jinja_device_owner',
      'jinja_subnets',
      'uuid',
    ]);
    expect(port.parameter_mappings.jinja_subnets).toEqual({
      for_mapping: { path: [{ type: 'subnet', id: 'subnet_id' }], output_key: 'id' },
      for_field: 'fixed_ips',
    });
  });

  it('loads template_mappings.yaml when the repo has one', () => {
    expect(templateMappings).toEqual(expect.objectContaining({ heat_worker: expect.any(Object) }));
  });
});

describe('loadTemplates (other roots)', () => {
  it('returns no templateMappings when the file is absent', () => {
    const root = tmpRoot();
    fs.mkdirSync(path.join(root, 'heat_templates'));
    fs.writeFileSync(path.join(root, 'heat_templates', 'x.yaml'), MINIMAL);
    fs.writeFileSync(path.join(root, 'heat_templates', 'README.md'), 'not a template');
    const loaded = loadTemplates(root);
    expect(loaded.templateMappings).toBeUndefined();
    expect(Object.keys(loaded.templates)).toEqual(['x']);
    expect(Object.keys(get(loaded.templates, 'x', 'templates').parameter_mappings)).toEqual(['b', 'a']);
  });

  it('rejects a file whose id does not match its name', () => {
    const dir = tmpRoot();
    fs.writeFileSync(path.join(dir, 'y.yaml'), MINIMAL);
    expect(() => loadHeatTemplatesDir(dir)).toThrow(/y\.yaml: "id" is "x" but the file name says "y"/);
  });

  it('rejects malformed templates with the source in the message', () => {
    expect(() => parseHeatTemplateYaml('id: x\nhandler: h\nparameter_mappings: {}\n', 'src.yaml')).toThrow(
      TemplateLoadError,
    );
    expect(() => parseHeatTemplateYaml('id: x\nhandler: h\nparameter_mappings: {}\n', 'src.yaml')).toThrow(
      /src\.yaml: "template_file" must be a string/,
    );
    expect(() => parseHeatTemplateYaml('id: x\nhandler: h\ntemplate_file: t\nparameter_mappings: []\n', 's')).toThrow(
      /"parameter_mappings" must be a mapping/,
    );
    expect(() => parseHeatTemplateYaml('a: [1\n', 's')).toThrow(/s: invalid YAML/);
  });

  it('defaults an absent watch to []', () => {
    expect(parseHeatTemplateYaml('id: x\nhandler: h\ntemplate_file: t\nparameter_mappings: {}\n', 's').watch).toEqual(
      [],
    );
  });
});
