import fs from 'node:fs';
import path from 'node:path';
import {
  InvalidHotError,
  isPrepareFailure,
  JobParamError,
  MissingOutputError,
  type OutputsOf,
  prepareStack,
  resolveParams,
  timeoutMinsOf,
} from '../../../shared/heat/prepare';
import type { HeatOutput } from '../../../shared/heat/types';
import type { Job, Param } from '../../../shared/planner/types';
import { parseHeatTemplateYaml } from '../../../shared/templates/load';
import { TemplateRenderError } from '../../../shared/templates/render';
import { REPO, seed003Outputs, seedJob } from './helpers';
import { get } from '../../helpers/at';

const NET = '168c1535-9001-49c7-bb05-21844570a83c';
const SUBNET = '707847d0-89d9-4b98-93a2-8b376709c5f3';
const PORT = 'ddc14be4-3480-4e97-a978-817b18f9904c';

const portTemplate = () =>
  parseHeatTemplateYaml(
    fs.readFileSync(path.join(REPO, 'templates', 'heat_templates', 'port.yaml'), 'utf8'),
    'port.yaml',
    'port',
  );

/** outputsOf over a map keyed `<type>:<id>` (the heat_stacks record ids). */
const outputsFrom =
  (m: Map<string, HeatOutput[]>): OutputsOf =>
  (t, id) =>
    m.get(`${t}:${id}`);

const job = (params: Param[], action = 'modify'): Job => ({
  is_first: true,
  resource_id: 'r1',
  handler: 'heat_worker',
  job_name: 'thing:r1:2',
  dependency: [],
  version: 2,
  params,
  resource_type: 'thing',
  action,
  is_last: true,
  on_failure: 'fail',
  id: `${action}:heat_worker:thing:r1:2:abcde`,
  resource_input: {},
});
const v = (param: string, value: Param['value']): Param => ({ resources: [], type: 'value', value, param });

const TINY = {
  id: 'tiny',
  handler: 'heat_worker',
  template_file: [
    'heat_template_version: 2013-05-23',
    'parameters:',
    '  name: {type: string}',
    '  net: {type: string}',
    'resources:',
    '  r:',
    '    type: OS::Test::Thing',
    '    properties:',
    '      name: { get_param: name }',
    '      label: {{ jinja_label }}',
    'outputs: {}',
    '',
  ].join('\n'),
};

describe('prepareStack with seed 003 (port ddc14be4… modify v2, network and subnet stacks from the record)', () => {
  const prepared = prepareStack(seedJob('003_7051ae089b13e2ae'), portTemplate(), outputsFrom(seed003Outputs()));

  it('names the stack <resource_type>_<resource_id> and creates-or-updates it with heat_timeout C13', () => {
    expect(prepared.action).toBe('create_or_update');
    expect(prepared.stackName).toBe(`port_${PORT}`);
    expect(prepared.timeoutMins).toBe(13);
  });

  it('sends exactly the non-jinja params, resolved, in job order (virtual_network = the network stack output "id")', () => {
    if (prepared.action !== 'create_or_update') throw new Error('unexpected action');
    // Worked out by hand from the seed job's params and the network stack's outputs in the record.
    expect(Object.entries(prepared.parameters)).toEqual([
      ['virtual_network', NET],
      ['virtual_machine', '47531b14-72e9-439d-8949-fd941457ecde'],
      ['name', PORT],
      ['admin_state_up', true],
      ['tenant_id', 'fe3a4a1a72c04479bb6c19c2c0ccba4c'],
      ['virtual_machine_interface_allowed_address_pairs', []],
      ['virtual_machine_interface_mac_address', 'fa:16:3e:cf:b0:c4'],
      ['device_owner', 'compute:nova'],
      ['version', 2],
      ['security_groups', []],
      ['uuid', PORT],
    ]);
  });

  it('gives the jinja_subnets list (subnet stack output "id", element by element) to the template only', () => {
    if (prepared.action !== 'create_or_update') throw new Error('unexpected action');
    const resources = prepared.template.resources as Record<
      string,
      { type: string; properties: Record<string, unknown> }
    >;
    expect(Object.keys(resources).sort()).toEqual(['instance_ip_0', 'virtual_machine_interface']);
    const instanceIp = get(resources, 'instance_ip_0', 'template resources');
    expect(instanceIp.properties.subnet_id).toBe('a2fc1444-c7f4-4a72-8376-a920889c4a43');
    expect(instanceIp.properties.ip_address).toBe('100.64.193.3');
    expect(Object.keys(prepared.parameters).filter((k) => k.startsWith('jinja_') || k === 'heat_timeout')).toEqual([]);
    expect(prepared.templateText).not.toMatch(/jinja_|{{|{%/);
  });
});

describe('missing outputs', () => {
  const base = seed003Outputs();

  it('no stack record for the referenced network → MissingOutputError naming param, resource and key', () => {
    const m = new Map(base);
    m.delete(`network:${NET}`);
    let err: unknown;
    try {
      prepareStack(seedJob('003_7051ae089b13e2ae'), portTemplate(), outputsFrom(m));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingOutputError);
    const e = err as MissingOutputError;
    expect([e.param, e.resourceType, e.resourceId, e.outputKey, e.reason]).toEqual([
      'virtual_network',
      'network',
      NET,
      'id',
      'no_stack',
    ]);
    expect(e.message).toBe(
      `param "virtual_network": no Heat stack recorded for network ${NET} (stack network_${NET}), so its output "id" is unknown`,
    );
    expect(isPrepareFailure(e)).toBe(true);
  });

  it('a list element whose stack lacks the output → MissingOutputError with the element index and the keys it has', () => {
    const m = new Map(base);
    m.set(`subnet:${SUBNET}`, [
      { output_key: 'name', output_value: SUBNET, description: 'The name of the local subnet.' },
    ]);
    expect(() => prepareStack(seedJob('003_7051ae089b13e2ae'), portTemplate(), outputsFrom(m))).toThrow(
      `param "jinja_subnets" (element 0): the stack of subnet ${SUBNET} (subnet_${SUBNET}) has no output "id" (it has name)`,
    );
  });

  it('a DELETE_COMPLETE record (output []) is a missing output too', () => {
    const m = new Map(base);
    m.set(`network:${NET}`, []);
    expect(() => prepareStack(seedJob('003_7051ae089b13e2ae'), portTemplate(), outputsFrom(m))).toThrow(
      /has no output "id" \(it has no outputs\)/,
    );
  });
});

describe('params, variables and the template', () => {
  const ref = (param: string, rid: string, key: string): Param => ({
    resources: [{ resource_type: 'network', resource_id: rid }],
    type: 'output_key',
    param,
    value: { output_key: key, resource_type: 'network', resource_id: rid },
  });
  const outs: OutputsOf = (t, id) =>
    t === 'network' && id === 'n1' ? [{ output_key: 'id', output_value: 'vn-1', description: 'x' }] : undefined;

  it('jinja_* params reach the template and never the stack parameters; heat_timeout reaches neither', () => {
    const p = prepareStack(
      job([v('name', 'a'), ref('net', 'n1', 'id'), v('jinja_label', 'L7'), v('heat_timeout', 7)]),
      TINY,
      outs,
    );
    if (p.action !== 'create_or_update') throw new Error('unexpected action');
    expect(p.parameters).toEqual({ name: 'a', net: 'vn-1' });
    const resources = p.template.resources as Record<string, { properties: Record<string, unknown> }>;
    expect(get(resources, 'r', 'template resources').properties.label).toBe('L7');
    expect(p.timeoutMins).toBe(7);
  });

  it('resolveParams keeps values as they are (null, lists, objects) and resolves list elements', () => {
    const list: Param = {
      resources: [],
      type: 'list',
      param: 'jinja_nets',
      value: [
        {
          param: 'jinja_nets',
          type: 'output_key',
          value: { output_key: 'id', resource_type: 'network', resource_id: 'n1' },
          resources: [],
        },
      ],
    };
    expect(resolveParams(job([v('a', null), v('b', [1, { c: 'd' }]), list]), outs)).toEqual({
      a: null,
      b: [1, { c: 'd' }],
      jinja_nets: ['vn-1'],
    });
  });

  it('an undefined template variable fails the render, naming the variable', () => {
    let err: unknown;
    try {
      prepareStack(job([v('name', 'a'), v('net', 'x')]), TINY, outs);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemplateRenderError);
    expect((err as TemplateRenderError).variable).toBe('jinja_label');
    expect(isPrepareFailure(err)).toBe(true);
  });

  it('a stack param the template does not declare → InvalidHotError', () => {
    expect(() =>
      prepareStack(job([v('name', 'a'), v('net', 'x'), v('extra', 1), v('jinja_label', 'L')]), TINY, outs),
    ).toThrow(InvalidHotError);
    expect(() =>
      prepareStack(job([v('name', 'a'), v('net', 'x'), v('extra', 1), v('jinja_label', 'L')]), TINY, outs),
    ).toThrow('template "tiny" rendered to invalid HOT: parameter "extra" is passed but not declared under parameters');
  });

  it('logical_delete needs only the stack name: no output is looked up and nothing is rendered', () => {
    const never: OutputsOf = () => {
      throw new Error('outputsOf called');
    };
    expect(
      prepareStack(job([ref('net', 'gone', 'id'), v('heat_timeout', '13')], 'logical_delete'), TINY, never),
    ).toEqual({
      action: 'delete',
      stackName: 'thing_r1',
      timeoutMins: 13,
    });
  });

  it('an action the heat worker does not handle, or a template of another handler, is a JobParamError', () => {
    expect(() => prepareStack(job([], 'read'), TINY, outs)).toThrow(JobParamError);
    expect(() => prepareStack(job([]), { ...TINY, handler: 'monitoring_worker' }, outs)).toThrow(
      'template "tiny" belongs to monitoring_worker, not heat_worker',
    );
  });
});

describe('heat_timeout', () => {
  it.each([
    ['13', 13],
    [13, 13],
    [' 6 ', 6],
    [30, 30],
    [undefined, 60],
    [null, 60],
    ['', 60],
  ])('%p → %p minutes', (value, mins) => {
    expect(timeoutMinsOf(value)).toBe(mins);
  });

  it.each(['abc', '1.5', 0, -3, 2.5, true])('%p is a JobParamError', (value) => {
    expect(() => timeoutMinsOf(value)).toThrow(JobParamError);
  });
});

describe('purity', () => {
  const ALLOWED = [/^\.\/[\w-]+$/, /^\.\.\/planner\/types$/, /^\.\.\/templates\/render$/, /^\.\.\/encoding\/pyjson$/];
  it.each(['prepare.ts', 'records.ts', 'types.ts', 'index.ts'])('shared/heat/%s imports nothing with I/O', (file) => {
    const text = fs.readFileSync(path.join(REPO, 'shared', 'heat', file), 'utf8');
    const specifiers = [
      ...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].flatMap((m) => m[1] ?? m[2] ?? []);
    expect(specifiers.filter((s) => !ALLOWED.some((re) => re.test(s)))).toEqual([]);
    expect(text).not.toMatch(/\b(Date\.now|new Date|process\.|setTimeout|fetch\()/);
  });
});
