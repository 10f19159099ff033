/**
 * A value too large to plan (the planner's transaction would exceed etcd's request limit) is a
 * permanent failure: a readable PLAN_FAILED /state on its FIRST delivery, the record acknowledged,
 * nothing else written — whether our size check catches it or etcd itself refuses the request.
 */
import { handler } from '../../functions/planner/handler';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { EtcdStore } from '../../shared/store/etcd-store';
import { put } from '../../shared/store/store';
import { lambdaContext, sqsEvent, sqsRecord } from '../helpers/sqs-event';

const store = new EtcdStore();
afterAll(() => store.close());

const uid = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
const MB = 1024 * 1024;
const matching = (re: RegExp): unknown => expect.stringMatching(re);

async function planOnce(id: string, descriptionBytes: number) {
  const key = `/config/v2.0/networks/${id}`;
  const body = { id, name: 'big', admin_state_up: true, description: 'x'.repeat(descriptionBytes) };
  const revision = (
    await store
      .txn()
      .then(put(key, encodeGohanConfigValue(body, 1)))
      .commit()
  ).revision;
  const result = await handler(
    sqsEvent(sqsRecord({ key, modRevision: revision, type: 'put' }, 1)),
    lambdaContext('esi-test-planner'),
  );
  const state = await store.get(`/state/v2.0/networks/${id}`);
  const jobs = (await store.range('/jobs/all/')).items.filter((kv) => kv.key.includes(id));
  return {
    result,
    state: state && (JSON.parse(state.value) as unknown),
    mirror: await store.get(`/esi-worker/config/v2.0/networks/${id}`),
    jobs: jobs.length,
    revision,
  };
}

test('a 1 MB body: PLAN_FAILED on its first delivery, acknowledged, no jobs, no mirror', async () => {
  const id = uid('net');
  const r = await planOnce(id, MB);
  expect(r).toEqual({
    result: { batchItemFailures: [] },
    state: {
      error: matching(
        new RegExp(
          `^the plan is too large for etcd: its transaction is \\d+ bytes, etcd accepts at most 1572864 \\(--max-request-bytes; ESI_ETCD_MAX_REQUEST_BYTES\\) at /config/v2\\.0/networks/${id} \\(revision ${r.revision}, version 1\\)$`,
        ),
      ),
      state: { worker_state: 'PLAN_FAILED' },
      version: 1,
    },
    mirror: undefined,
    jobs: 0,
    revision: r.revision,
  });
});

test("etcd, or the gRPC client's send limit, refusing the request (our limit set above both) is classified the same way", async () => {
  process.env.ESI_ETCD_MAX_REQUEST_BYTES = String(64 * MB);
  try {
    const id = uid('net');
    const r = await planOnce(id, MB);
    expect(r.result).toEqual({ batchItemFailures: [] });
    expect(r.state).toEqual({
      error: matching(/^the plan is too large for etcd: its transaction is \d+ bytes/),
      state: { worker_state: 'PLAN_FAILED' },
      version: 1,
    });
    expect([r.mirror, r.jobs]).toEqual([undefined, 0]);
  } finally {
    delete process.env.ESI_ETCD_MAX_REQUEST_BYTES;
  }
});

test('a body that fits is planned as usual', async () => {
  const id = uid('net');
  const r = await planOnce(id, 64 * 1024);
  expect([r.result, r.state, r.jobs]).toEqual([{ batchItemFailures: [] }, undefined, 1]);
  expect(JSON.parse(r.mirror!.value)).toEqual(expect.objectContaining({ version: 1, deleted: false }));
});
