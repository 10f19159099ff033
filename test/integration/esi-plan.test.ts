/**
 * The operator commands through the real CLI process (`node bin/esi.cjs`): `esi plan` for every
 * seed from a snapshot file (output equal to point (2)), `esi plan` against etcd writing nothing,
 * and `esi templates publish` (Gohan's wire format, version bumped only on change).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import type { Job } from '../../shared/planner/types';
import { EtcdStore } from '../../shared/store/etcd-store';
import { del, put, type WatchEvent } from '../../shared/store/store';
import { waitFor } from '../helpers/wait';
import { jobDifferences } from '../unit/planner/helpers';
import { expectedJobs, seedFixtures, seedKeys, stripSuffix } from '../helpers/seed-etcd';
import { at } from '../helpers/at';

const REPO = path.resolve(__dirname, '..', '..');
const run = promisify(execFile);
const esi = (...args: string[]) =>
  run('node', [path.join(REPO, 'bin', 'esi.cjs'), ...args], { cwd: REPO, env: process.env });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-plan-'));
const store = new EtcdStore();
afterAll(() => {
  store.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const lines = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { key: string; value: [string, Job, number] });

const seeds = seedFixtures();
const matched: string[] = [];
afterAll(() =>
  console.log(`esi plan --snapshot: ${matched.length}/${seeds.length} seeds matched point (2) (${matched.join(', ')})`),
);

describe.each(seeds.map((s) => [s.seed, s] as const))('esi plan, seed %s', (name, seed) => {
  it('prints the point (2) /jobs/all entries in dependency order', async () => {
    const file = path.join(tmp, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(seedKeys(seed, { wire: false }), null, 2));
    const { stdout } = await esi('plan', '--key', seed.change.key, '--snapshot', file);
    const out = lines(stdout);
    const expected = expectedJobs(seed);
    expect(out.map((l) => stripSuffix(l.key))).toEqual(expected.map((e) => stripSuffix(e.key)));
    const diffs = out.flatMap((l, i) => {
      const e = at(expected, i, 'expected jobs');
      return [
        ...(l.value[0] === e.handler && l.value[2] === e.counter ? [] : [`${l.key}: stored shape`]),
        ...(l.key === `/jobs/all/${l.value[1].id}` ? [] : [`${l.key}: key is not the job id`]),
        ...jobDifferences(l.value[1], e.job).map((d) => `${l.key}: ${d}`),
      ];
    });
    expect(diffs).toEqual([]);
    // Dependency order: every dependency is printed earlier or is not part of this plan.
    const printed = out.map((l) => l.value[1].id);
    out.forEach((l, i) => l.value[1].dependency.forEach((d) => expect(printed.indexOf(d)).toBeLessThan(i)));
    matched.push(name);
  });
});

describe('esi plan against etcd', () => {
  it('prints the jobs and writes nothing; a plan error exits non-zero with the readable error', async () => {
    const id = `plan-${Date.now().toString(36)}`;
    const key = `/config/v2.0/networks/${id}`;
    await store
      .txn()
      .then(put(key, encodeGohanConfigValue({ id, name: id, admin_state_up: true }, 1)))
      .commit();
    // Other files write to the run's etcd meanwhile: every write of the run is watched, and none
    // may name this resource (its mirror, jobs and job state all carry its id).
    const events: WatchEvent[] = [];
    const watch = await store.watch('/', (await store.revision()) + 1, {
      onEvents: (e) => events.push(...e),
      onError: () => undefined,
    });
    const { stdout } = await esi('plan', '--key', key);
    expect(lines(stdout).map((l) => stripSuffix(l.key))).toEqual([`/jobs/all/create:heat_worker:network:${id}:1`]);
    const sentinel = `/esi-test/plan-sentinel/${Date.now().toString(36)}`;
    await store.txn().then(put(sentinel, '1')).commit();
    await waitFor(() => events.some((e) => e.key === sentinel), { what: 'the watch to reach the sentinel' });
    await watch.cancel();
    await store.txn().then(del(sentinel)).commit();
    expect(events.filter((e) => e.key.includes(id))).toEqual([]);

    const bad = `/config/v2.0/networks/${id}-bad`;
    await store
      .txn()
      .then(put(bad, encodeGohanConfigValue({ id: `${id}-bad` }, 1)))
      .commit();
    const err = await esi('plan', '--key', bad).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(
      /^esi: plan failed: template "network": param "admin_state_up": .*field "admin_state_up" is missing.* at \/config\/v2\.0\/networks\/plan-\S+-bad \(revision \d+, version 1\)\n$/,
    );
  });
});

describe('esi templates publish', () => {
  it('writes Gohan wire values, bumps the version only on change, and the planner reads them', async () => {
    const id = `tpl_${Date.now().toString(36)}`;
    const root = path.join(tmp, 'templates');
    fs.mkdirSync(path.join(root, 'heat_templates'), { recursive: true });
    const yaml = (timeout: string) =>
      `id: ${id}\nhandler: heat_worker\nwatch: []\nparameter_mappings:\n  name: Pid\n  heat_timeout: ${timeout}\ntemplate_file: |\n  heat_template_version: 2013-05-23\n  resources: {}\n`;
    fs.writeFileSync(path.join(root, 'heat_templates', `${id}.yaml`), yaml('C5'));
    const key = `/config/v2.0/heat_templates/${id}`;

    await esi('templates', 'publish', '--dir', root);
    const first = (await store.get(key))!;
    const v1 = JSON.parse(first.value) as { body: string; marked_for_deletion: boolean; version: number };
    expect({ ...v1, body: JSON.parse(v1.body) }).toEqual({
      body: {
        id,
        handler: 'heat_worker',
        watch: [],
        parameter_mappings: { name: 'Pid', heat_timeout: 'C5' },
        template_file: 'heat_template_version: 2013-05-23\nresources: {}\n',
      },
      marked_for_deletion: false,
      version: 1,
    });
    expect(typeof v1.body).toBe('string');

    await esi('templates', 'publish', '--dir', root);
    expect((await store.get(key))!.modRevision).toBe(first.modRevision);

    fs.writeFileSync(path.join(root, 'heat_templates', `${id}.yaml`), yaml('C6'));
    const { stdout } = await esi('templates', 'publish', '--dir', root);
    expect(stdout).toBe(`${key} updated (version 2)\n`);
    expect(JSON.parse((await store.get(key))!.value).version).toBe(2);

    // The planner picks the published template up (static_route_<service_type> selects it).
    const service = id.replace(/^tpl_/, '');
    fs.renameSync(
      path.join(root, 'heat_templates', `${id}.yaml`),
      path.join(root, 'heat_templates', `static_route_${service}.yaml`),
    );
    fs.writeFileSync(
      path.join(root, 'heat_templates', `static_route_${service}.yaml`),
      yaml('C6').replace(`id: ${id}`, `id: static_route_${service}`),
    );
    await esi('templates', 'publish', '--dir', root);
    const routeKey = `/config/v2.0/static_routes/r-${service}`;
    await store
      .txn()
      .then(put(routeKey, encodeGohanConfigValue({ id: `r-${service}`, service_type: service }, 1)))
      .commit();
    const planned = lines((await esi('plan', '--key', routeKey)).stdout);
    expect(planned.map((l) => l.value[1].params)).toEqual([
      [
        { resources: [], type: 'value', value: `r-${service}`, param: 'name' },
        { resources: [], type: 'value', value: '6', param: 'heat_timeout' },
      ],
    ]);
  });
});
