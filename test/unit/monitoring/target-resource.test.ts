/**
 * A monitoring_worker target names the job's own Gohan resource, as every Heat template's
 * MonitoringTarget does (`resource_type: ports`, `resource_id: {get_param: uuid}` in port.yaml):
 * the collector's etcd syncer writes /monitoring/<resource_type>/<resource_id>, which is where
 * Gohan (and the record, seed 004 point 7) reads the port's status. The port's VMI `id` output is
 * not that id in general: in the record's 05 run every port stack reported the VMI id
 * f68d0924-ef20-4c1b-ac45-0e6b879af5e7, whatever the port.
 */
import type { Job } from '../../../shared/planner/types';
import { JobTemplateError } from '../../../shared/work/job-template';
import { targetSpec } from '../../../shared/work/monitoring-work';

const PORT = 'a7e5822c-5c04-4c5f-a5ac-b0e0ad50159f';
const RECORDED_VMI_ID = 'f68d0924-ef20-4c1b-ac45-0e6b879af5e7';
const TENANT = 'fe3a4a1a72c04479bb6c19c2c0ccba4c';
const job = {
  resource_id: PORT,
  version: 2,
  resource_input: { id: PORT, tenant_id: TENANT, device_owner: 'network:gw_interface', attached: true },
} as Pick<Job, 'resource_id' | 'version' | 'resource_input'>;
const body = {
  type: 'virtual_machine_interface',
  field_name: 'vmi',
  properties: { fq_name: `default-domain:admin:${RECORDED_VMI_ID}` },
  syncer_properties: { etcd: { status: { key: 'vmi' } } },
};

test("the target is the job's resource at the job's version, with the resource's tenant", () => {
  expect(targetSpec(body, job, 'ports')).toEqual({
    ...body,
    resource_type: 'ports',
    resource_id: PORT,
    tenant_id: TENANT,
    version: 2,
  });
});

test('a template naming the same resource is accepted; one naming another resource (the VMI id) is an error', () => {
  expect(targetSpec({ ...body, resource_type: 'ports', resource_id: PORT }, job, 'ports').resource_id).toBe(PORT);
  expect(() => targetSpec({ ...body, resource_id: RECORDED_VMI_ID }, job, 'ports', 'port_monitoring')).toThrow(
    JobTemplateError,
  );
  expect(() => targetSpec({ ...body, resource_type: 'networks' }, job, 'ports')).toThrow(/resource_type "networks"/);
});
