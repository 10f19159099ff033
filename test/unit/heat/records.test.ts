import {
  deletedStackRecord,
  encodeEsiValue,
  jobStateValue,
  parseStackRecord,
  stackRecord,
  stateHeatOutputsText,
  tenantOf,
} from '../../../shared/heat/records';
import type { HeatOutput } from '../../../shared/heat/types';
import { asHeat, seedJob, seedRecords, wire00 } from './helpers';

/** The job of each seed whose heat worker wrote the records (the heat job of seed 004's chain). */
const JOB_INDEX: Record<string, number> = { '004_18d39a09107f9f1f': 1 };

describe.each(seedRecords().map((r) => [r.seed, r] as const))('seed %s', (seed, rec) => {
  const job = seedJob(seed, JOB_INDEX[seed] ?? 0);
  const heatOutputs = asHeat(rec.heat_stacks.value.output);
  const tenant = tenantOf(job.resource_input);

  it('the job is the heat job of the recorded resource', () => {
    expect([job.handler, job.resource_type, job.resource_id, job.action]).toEqual([
      'heat_worker',
      rec.resource_type,
      rec.resource_id,
      rec.action,
    ]);
  });

  it('point (3): the heat_stacks value equals the seed', () => {
    const built =
      rec.action === 'logical_delete'
        ? deletedStackRecord({ resourceType: job.resource_type, resourceId: job.resource_id, tenantId: tenant })
        : stackRecord({
            resourceType: job.resource_type,
            resourceId: job.resource_id,
            tenantId: tenant,
            // What Heat's stack show reports; the record copies it.
            status: rec.heat_stacks.value.stack_status,
            statusReason: rec.heat_stacks.value.status_reason,
            outputs: heatOutputs,
          });
    expect(built).toEqual(rec.heat_stacks.value);
    expect(JSON.parse(encodeEsiValue(built))).toEqual(rec.heat_stacks.value);
  });

  it('point (4): the job_state value equals the seed', () => {
    // Seeds 000-003 carry orchestration_state; seed 004's chain shows heat_outputs alone.
    const state = rec.job_state.value.orchestration_state as string | undefined;
    const built = jobStateValue({
      outputs: heatOutputs,
      ...(state === undefined ? {} : { orchestrationState: state }),
    });
    expect(built).toEqual(rec.job_state.value);
    expect(JSON.parse(encodeEsiValue(built))).toEqual(rec.job_state.value);
  });

  it("/state's heat_outputs string has the seed's exact text (Python 2 element key order)", () => {
    expect(stateHeatOutputsText(heatOutputs)).toBe(rec.state_heat_outputs);
  });
});

describe('seed expectations spelled out', () => {
  it('seed 001: the record after a delete', () => {
    expect(
      deletedStackRecord({
        resourceType: 'port',
        resourceId: 'db3bff62-cf93-48ce-8d6b-cfb2f7fd7dfc',
        tenantId: 'fe3a4a1a72c04479bb6c19c2c0ccba4c',
      }),
    ).toEqual({
      stack_id: '',
      tenant_id: 'fe3a4a1a72c04479bb6c19c2c0ccba4c',
      stack_status: 'DELETE_COMPLETE',
      output: [],
      status_reason: '',
      id: 'port:db3bff62-cf93-48ce-8d6b-cfb2f7fd7dfc',
    });
    expect(jobStateValue({ outputs: [], orchestrationState: 'DELETE_COMPLETE' })).toEqual({
      heat_outputs: [],
      orchestration_state: 'DELETE_COMPLETE',
    });
  });

  it("stack_id is the stack name, id is <type>:<id>, and the tenant is the Gohan resource's", () => {
    const r = stackRecord({
      resourceType: 'load_balancer',
      resourceId: 'b3',
      tenantId: tenantOf({ tenant_id: 't9' }),
      status: 'CREATE_COMPLETE',
      statusReason: 'ok',
      outputs: [],
    });
    expect([r.stack_id, r.id, r.tenant_id]).toEqual(['load_balancer_b3', 'load_balancer:b3', 't9']);
    expect(tenantOf({})).toBe('');
  });
});

describe('wire text: the raw etcd values of the record (00_logical_network, ese_device 61a05e50… create)', () => {
  const w = wire00();
  const recorded = JSON.parse(w.heat_stacks.value_raw) as {
    output: HeatOutput[];
    stack_status: string;
    status_reason: string;
  };

  it('heat_stacks: json.dumps(sort_keys=True), byte for byte', () => {
    const built = stackRecord({
      resourceType: 'ese_device',
      resourceId: '61a05e50-71f9-495d-b1cc-74382dfaec83',
      tenantId: w.tenant_id,
      status: recorded.stack_status,
      statusReason: recorded.status_reason,
      outputs: asHeat(recorded.output),
    });
    expect(encodeEsiValue(built)).toBe(w.heat_stacks.value_raw);
  });

  it('job_state: json.dumps(sort_keys=True), byte for byte', () => {
    expect(
      encodeEsiValue(jobStateValue({ outputs: asHeat(recorded.output), orchestrationState: 'CREATE_COMPLETE' })),
    ).toBe(w.job_state.value_raw);
  });

  it('parseStackRecord reads a stored value back; other text is undefined', () => {
    expect(parseStackRecord(w.heat_stacks.value_raw)?.output.map((o) => o.output_key)).toEqual([
      'monitoring_target_id',
      'fq_name',
      'id',
      'monitoring_link',
      'name',
    ]);
    expect(parseStackRecord('{}')).toBeUndefined();
    expect(parseStackRecord('not json')).toBeUndefined();
  });
});

describe('jobStateValue', () => {
  it("keeps what other handlers wrote (seed 004's state_monitoring) and replaces the heat part", () => {
    const out: HeatOutput[] = [{ output_key: 'id', output_value: 'x', description: 'd' }];
    expect(
      jobStateValue({
        outputs: out,
        previous: { state_monitoring: { vmi: 'ACTIVE' }, heat_outputs: [], orchestration_state: 'CREATE_COMPLETE' },
      }),
    ).toEqual({
      state_monitoring: { vmi: 'ACTIVE' },
      heat_outputs: [{ description: 'd', output_key: 'id', output_value: 'x' }],
    });
  });

  it('outputs keep exactly description, output_key, output_value (Heat extras such as output_error dropped)', () => {
    const withExtra = [
      { output_key: 'k', output_value: undefined, description: 'd', output_error: 'boom' },
    ] as unknown as HeatOutput[];
    expect(encodeEsiValue(jobStateValue({ outputs: withExtra, orchestrationState: 'CREATE_FAILED' }))).toBe(
      '{"heat_outputs": [{"description": "d", "output_key": "k", "output_value": null}], "orchestration_state": "CREATE_FAILED"}',
    );
  });
});
