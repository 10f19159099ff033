/**
 * The handler runs the template the planner chose: keys are read as they were at the revision the
 * planner committed the job at, whatever changed since.
 */
import fs from 'node:fs';
import path from 'node:path';
import { keys, TEMPLATE_MAPPINGS_KEY } from '../../../shared/keys';
import type { Job } from '../../../shared/planner/types';
import type { KeyValue, RangeOptions, RangeResult, Store } from '../../../shared/store/store';
import { templateOfJob } from '../../../shared/work/job-template';
import { at } from '../../helpers/at';

const seed = JSON.parse(
  fs.readFileSync(path.resolve(__dirname, '../../fixtures/seeds/000_1f9fc31bb326bf67.json'), 'utf8'),
) as { expected: { value: [string, Job, number] }[] };
const job = at(seed.expected, 0, 'seed 000 expected').value[1];

/** A store that keeps every revision of its keys and answers ranges at any of them. */
function historyStore(history: { key: string; value: string; revision: number }[]): Store {
  const range = (prefix: string, opts: RangeOptions = {}): Promise<RangeResult> => {
    const at = opts.revision ?? Math.max(0, ...history.map((h) => h.revision));
    const latest = new Map<string, KeyValue>();
    for (const h of history)
      if (h.key.startsWith(opts.from ?? prefix) && h.key.startsWith(prefix) && h.revision <= at)
        latest.set(h.key, { key: h.key, value: h.value, modRevision: h.revision, createRevision: 1, version: 1 });
    const items = [...latest.values()].sort((a, b) => (a.key < b.key ? -1 : 1)).slice(0, opts.limit);
    return Promise.resolve({ items, revision: at });
  };
  return { range } as unknown as Store;
}

test('a template changed after the plan does not change the planned job: it runs the one of the plan revision', async () => {
  const shippedChoice = await templateOfJob(historyStore([]), job, { revision: 1 });
  const key = keys.heatTemplate(shippedChoice.id);
  const withText = (text: string) =>
    JSON.stringify({ body: { ...shippedChoice, template_file: text }, version: 1, marked_for_deletion: false });
  const store = historyStore([
    { key, value: withText('heat_template_version: 2016-10-14 # planned\n'), revision: 5 },
    { key, value: withText('heat_template_version: 2016-10-14 # changed later\n'), revision: 9 },
  ]);

  expect((await templateOfJob(store, job, { revision: 7 })).template_file).toBe(
    'heat_template_version: 2016-10-14 # planned\n',
  );
  expect((await templateOfJob(store, job, { revision: 9 })).template_file).toBe(
    'heat_template_version: 2016-10-14 # changed later\n',
  );
});

test('a template_mappings value read with the claim is used only when it is not newer than the plan', async () => {
  const planned = await templateOfJob(historyStore([]), job, { revision: 1 });
  const later: KeyValue = {
    key: TEMPLATE_MAPPINGS_KEY,
    value: 'not: [valid',
    modRevision: 8,
    createRevision: 8,
    version: 1,
  };
  const read = new Map([[TEMPLATE_MAPPINGS_KEY, later]]);
  // Newer than the plan (revision 8 > 3): read again at the plan revision, where it was absent.
  expect((await templateOfJob(historyStore([]), job, { revision: 3, read })).id).toBe(planned.id);
});
