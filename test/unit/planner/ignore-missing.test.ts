/**
 * `ignore_missing` (PROTOCOL-NOTES §a): a hop whose id is unset, or whose resource does not exist,
 * yields "" with no resources; whenever the referenced resource exists it is followed like any
 * other hop (its field, and it appears in `resources`, so the job waits for its unfinished jobs).
 * Planned through the same loading path as etcd (preparePlan, loading referenced keys in rounds),
 * over an in-memory snapshot. The rule is the port template's cfg dependency:
 * device_owner network:common_function_gateway → {field: id, path: [cfg by device_id], ignore_missing}.
 */
import { preparePlan, SnapshotSource } from '../../../shared/work/planning/inputs';
import type { Job } from '../../../shared/planner/types';
import { at } from '../../helpers/at';

const PORT = '11111111-0000-4000-8000-000000000001';
const NETWORK = '22222222-0000-4000-8000-000000000002';
const SUBNET = '33333333-0000-4000-8000-000000000003';
const CFG = '44444444-0000-4000-8000-000000000004';

const gohan = (body: Record<string, unknown>, version = 1) => ({
  body: JSON.stringify(body),
  version,
  marked_for_deletion: false,
});

const port = (extra: Record<string, unknown> = {}) => ({
  id: PORT,
  device_owner: 'network:common_function_gateway',
  device_id: CFG,
  network_id: NETWORK,
  attached: false,
  admin_state_up: true,
  tenant_id: 't',
  allowed_address_pairs: [],
  security_groups: [],
  mac_address: 'fa:16:3e:00:00:01',
  fixed_ips: [{ subnet_id: SUBNET, ip_address: '10.0.0.5' }],
  ...extra,
});

function snapshot(withCfg: boolean, extra: Record<string, unknown> = {}, portExtra: Record<string, unknown> = {}) {
  return new SnapshotSource({
    [`/config/v2.0/ports/${PORT}`]: gohan(port(portExtra)),
    [`/config/v2.0/networks/${NETWORK}`]: gohan({ id: NETWORK }),
    [`/config/v2.0/subnets/${SUBNET}`]: gohan({ id: SUBNET, network_id: NETWORK }),
    ...(withCfg ? { [`/config/v2.0/common_function_gateways/${CFG}`]: gohan({ id: CFG }) } : {}),
    ...extra,
  });
}

async function cfgParam(source: SnapshotSource): Promise<{ job: Job; value: unknown; resources: unknown }> {
  const p = await preparePlan(source, `/config/v2.0/ports/${PORT}`);
  if (p.kind !== 'planned' || p.result.kind !== 'jobs') throw new Error(`not planned: ${JSON.stringify(p)}`);
  const job = at(p.result.jobs, 0, 'planned jobs').job;
  const param = job.params.find((x) => x.param === 'jinja_force_dependency_cfg')!;
  return { job, value: param.value, resources: param.resources };
}

test('the referenced resource exists: it is followed (its id, and it is in resources)', async () => {
  const { value, resources } = await cfgParam(snapshot(true));
  expect(value).toBe(CFG);
  expect(resources).toEqual([{ resource_type: 'common_function_gateway', resource_id: CFG }]);
});

test('the referenced resource does not exist: "" and no resources', async () => {
  const { value, resources } = await cfgParam(snapshot(false));
  expect(value).toBe('');
  expect(resources).toEqual([]);
});

test('the id field is unset: "" and no resources', async () => {
  const { value, resources } = await cfgParam(snapshot(true, {}, { device_id: '' }));
  expect(value).toBe('');
  expect(resources).toEqual([]);
});

test('followed like any hop: the job waits for the referenced resource’s unfinished job', async () => {
  const cfgJob = `create:heat_worker:common_function_gateway:${CFG}:1:aaaaa`;
  const source = snapshot(true, {
    [`/jobs/all/${cfgJob}`]: ['heat_worker', { id: cfgJob }, 0],
  });
  const { job } = await cfgParam(source);
  expect(job.dependency).toContain(cfgJob);
});
