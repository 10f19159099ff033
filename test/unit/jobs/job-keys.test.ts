import { chainName, defaultJobKeys, jobKeys, parseJobId } from '../../../shared/jobs/job-keys';
import { JOB_QUEUES } from '../../../shared/config';

const seedId = 'create:monitoring_worker:port:7abe783f-4837-417d-b76f-771ec4d38b97:2:72o7k';

test('builds the record layout under /jobs/ by default', () => {
  expect(defaultJobKeys.all(seedId)).toBe(`/jobs/all/${seedId}`);
  expect(defaultJobKeys.waiting('x')).toBe('/jobs/waiting/x');
  expect(defaultJobKeys.working('x')).toBe('/jobs/working/x');
  expect(defaultJobKeys.finished('x')).toBe('/jobs/finished/x');
  expect(defaultJobKeys.prefix('waiting')).toBe('/jobs/waiting/');
});

test('a root without a trailing slash gets one', () => {
  expect(jobKeys('/t1/jobs').all('x')).toBe('/t1/jobs/all/x');
});

test('parses state keys and rejects anything else', () => {
  const k = jobKeys('/t/jobs/');
  expect(k.parse(`/t/jobs/all/${seedId}`)).toEqual({ folder: 'all', id: seedId });
  expect(k.parse('/t/jobs/all/')).toBeUndefined();
  expect(k.parse('/t/jobs/all')).toBeUndefined();
  // No ready folder: ready is computed (the earlier layout's keys are not job keys).
  expect(k.parse(`/t/jobs/ready/${seedId}`)).toBeUndefined();
  expect(k.parse('/t/jobs/other/x')).toBeUndefined();
  expect(k.parse('/jobs/all/x')).toBeUndefined();
  expect(k.parse('/t/jobs/all/a/b')).toBeUndefined();
});

test('parses a job id from both ends', () => {
  expect(parseJobId(seedId)).toEqual({
    action: 'create',
    handler: 'monitoring_worker',
    resourceType: 'port',
    resourceId: '7abe783f-4837-417d-b76f-771ec4d38b97',
    version: 2,
    suffix: '72o7k',
  });
  expect(parseJobId('modify:heat_worker:port:a:b:3:zz')?.resourceId).toBe('a:b');
  expect(parseJobId('modify:heat_worker:port:a:x:zz')).toBeUndefined();
  expect(parseJobId('not-a-job')).toBeUndefined();
  expect(chainName(parseJobId(seedId)!)).toBe('port:7abe783f-4837-417d-b76f-771ec4d38b97:2');
});

test("a resource's jobs are under one /jobs/all prefix per action and handler, ending in ':'", () => {
  expect(jobKeys('/t/jobs/').jobIdPrefixes('network', 'net-1', 3)).toEqual([
    '/t/jobs/all/create:heat_worker:network:net-1:3:',
    '/t/jobs/all/create:monitoring_worker:network:net-1:3:',
    '/t/jobs/all/modify:heat_worker:network:net-1:3:',
    '/t/jobs/all/modify:monitoring_worker:network:net-1:3:',
    '/t/jobs/all/logical_delete:heat_worker:network:net-1:3:',
    '/t/jobs/all/logical_delete:monitoring_worker:network:net-1:3:',
    '/t/jobs/all/delete:heat_worker:network:net-1:3:',
    '/t/jobs/all/delete:monitoring_worker:network:net-1:3:',
  ]);
  expect(defaultJobKeys.jobIdPrefixes('port', 'p')[0]).toBe('/jobs/all/create:heat_worker:port:p:');
});

test('every handler a job can have has a queue, and no other has one', () => {
  expect(Object.keys(JOB_QUEUES).sort()).toEqual(['heat_worker', 'monitoring_worker']);
});
