/** `esi status` on real etcd: one screen with the config, each job and where it stands, stack, state, monitoring. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { EtcdStore } from '../../shared/store/etcd-store';
import { put } from '../../shared/store/store';

const run = promisify(execFile);
const store = new EtcdStore();
afterAll(() => store.close());

test('shows where each job of a resource stands and what Gohan will read', async () => {
  const id = `st-${Date.now()}`;
  const key = `/config/v2.0/ports/${id}`;
  const job = (action: string, handler: string, dep: string[] = []) => ({
    id: `${action}:${handler}:port:${id}:2:abcde`,
    handler,
    action,
    version: 2,
    dependency: dep,
    resource_type: 'port',
    resource_id: id,
    is_first: false,
    is_last: false,
    on_failure: 'fail',
    params: [],
    job_name: `port:${id}:2`,
    resource_input: {},
  });
  const heat = job('modify', 'heat_worker');
  const mon = job('create', 'monitoring_worker', [heat.id]);
  // Jobs of other resources: an id this one is a prefix of, and the same id of another type.
  const longerId = `create:heat_worker:port:${id}0:1:zzzzz`;
  const otherType = `create:heat_worker:network:${id}:1:yyyyy`;
  await store
    .txn()
    .then(
      put(key, encodeGohanConfigValue({ id, admin_password: 'hunter2-secret' }, 2)),
      put(`/esi-worker/config/v2.0/ports/${id}`, JSON.stringify({ body: {}, deleted: false, version: 2 })),
      put(`/jobs/all/${heat.id}`, JSON.stringify(['heat_worker', heat, 2])),
      put(`/jobs/finished/${heat.id}`, JSON.stringify({ ok: false, error: 'stack port_x UPDATE_FAILED: Timed out' })),
      put(`/jobs/all/${mon.id}`, JSON.stringify(['monitoring_worker', mon, 0])),
      put(`/jobs/waiting/${mon.id}`, 'monitoring_worker'),
      put(`/jobs/all/${longerId}`, JSON.stringify(['heat_worker', { ...heat, id: longerId }, 0])),
      put(`/jobs/all/${otherType}`, JSON.stringify(['heat_worker', { ...heat, id: otherType }, 0])),
      put(`/state/v2.0/ports/${id}`, '{"error": "", "state": {"worker_state": "CREATE_COMPLETED"}, "version": 1}'),
      put(`/monitoring/v2.0/ports/${id}`, '{"version": 1, "vmi": "UP"}'),
    )
    .commit();

  const { stdout } = await run(process.execPath, [path.join(__dirname, '../../bin/esi.cjs'), 'status', key], {
    env: process.env,
  });
  expect(stdout).toContain('config    version 2; planned up to version 2');
  expect(stdout).toMatch(new RegExp(`failed\\s+modify\\s+heat_worker\\s+v2\\s+${heat.id}`));
  expect(stdout).toContain('attempts 2; error: stack port_x UPDATE_FAILED: Timed out');
  expect(stdout).toMatch(new RegExp(`waiting\\s+create\\s+monitoring_worker\\s+v2\\s+${mon.id}`));
  expect(stdout).toContain(`waits for ${heat.id}`);
  expect(stdout).toContain('"worker_state":"CREATE_COMPLETED"');
  expect(stdout).toContain('"vmi":"UP"');
  expect(stdout).toContain('stack     (none)');
  expect(stdout).not.toContain('hunter2-secret');
  expect(stdout).not.toContain(longerId);
  expect(stdout).not.toContain(otherType);
});

test('a /config key that does not exist: the report of what is kept, and exit code 1', async () => {
  const key = `/config/v2.0/networks/not-there-${Date.now()}`;
  const err = (await run(process.execPath, [path.join(__dirname, '../../bin/esi.cjs'), 'status', key], {
    env: process.env,
  }).catch((e: unknown) => e)) as { code?: number; stdout?: string; stderr?: string };
  expect({ code: err.code, stderr: err.stderr }).toEqual({ code: 1, stderr: `esi: ${key}: no such key\n` });
  expect(err.stdout).toMatch(new RegExp(`^resource +${key}\\nconfig +\\(no such key`));
});
