import { createHash } from 'node:crypto';
import {
  decodeEventMessage,
  deduplicationId,
  encodeEventMessage,
  messageGroupId,
} from '../../../shared/events/etcd-event-message';
import { keys, parseConfigKey } from '../../../shared/keys';
import { relayRoutes } from '../../../shared/relay/routes';
import { at } from '../../helpers/at';

describe('config keys', () => {
  test('parses resource keys of both Gohan scopes', () => {
    expect(parseConfigKey('/config/v2.0/ports/abc')).toEqual({ scope: 'v2.0', plural: 'ports', id: 'abc' });
    expect(parseConfigKey('/config/common/v1.0/tenants/t1')).toEqual({
      scope: 'common/v1.0',
      plural: 'tenants',
      id: 't1',
    });
  });

  test.each(['/config/v2.0/ports', '/config/', '/state/v2.0/ports/a', '/config/v2.0/ports/'])(
    '%s is not a resource key',
    (key) => {
      expect(parseConfigKey(key)).toBeUndefined();
    },
  );

  test('builds the worker keys of a resource as the record names them', () => {
    const r = { scope: 'v2.0', plural: 'ports', id: 'p1' };
    expect(keys.mirror(r)).toBe('/esi-worker/config/v2.0/ports/p1');
    expect(keys.heatStack(r)).toBe('/esi-worker/heat_stacks/v2.0/ports/p1');
    expect(keys.jobState(r)).toBe('/esi-worker/job_state/v2.0/ports/p1');
    expect(keys.state(r)).toBe('/state/v2.0/ports/p1');
    expect(keys.monitoring(r)).toBe('/monitoring/v2.0/ports/p1');
  });

  test('the /state and /monitoring prefixes are settings (a Gohan deployment may want others)', () => {
    const r = { scope: 'v2.0', plural: 'ports', id: 'p1' };
    const saved = { state: process.env.ESI_STATE_PREFIX, monitoring: process.env.ESI_MONITORING_PREFIX };
    try {
      process.env.ESI_STATE_PREFIX = '/gohan/state/';
      process.env.ESI_MONITORING_PREFIX = '/gohan/monitoring';
      expect([keys.state(r), keys.monitoring(r)]).toEqual([
        '/gohan/state/v2.0/ports/p1',
        '/gohan/monitoring/v2.0/ports/p1',
      ]);
    } finally {
      for (const [k, v] of [
        ['ESI_STATE_PREFIX', saved.state],
        ['ESI_MONITORING_PREFIX', saved.monitoring],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });
});

describe('relay messages', () => {
  test('round-trip and reject what is not an event message', () => {
    const m = { key: '/config/v2.0/ports/p1', modRevision: 42, type: 'put' as const };
    expect(decodeEventMessage(encodeEventMessage(m))).toEqual(m);
    expect(() => decodeEventMessage('{"key":"/x"}')).toThrow(/not an etcd event message/);
    expect(() => decodeEventMessage('nope')).toThrow(/not JSON/);
  });

  test('deduplication id is the same for the same change and differs otherwise', () => {
    const a = { key: '/config/a', modRevision: 7, type: 'put' as const };
    expect(deduplicationId(a)).toBe(deduplicationId({ ...a }));
    expect(deduplicationId(a)).toBe(deduplicationId({ ...a, type: 'sync' }));
    expect(deduplicationId(a)).not.toBe(deduplicationId({ ...a, modRevision: 8 }));
    expect(deduplicationId(a)).not.toBe(deduplicationId({ ...a, type: 'delete' }));
    expect(deduplicationId(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  test('message group is the key when SQS accepts it, else a stable hash prefix and the readable end of the key', () => {
    const group = (key: string) => messageGroupId({ key, modRevision: 1, type: 'put' });
    const sha = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 24);
    // AWS: 1-128 characters of alphanumerics and punctuation.
    const awsAccepts = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]{1,128}$/;
    expect(group('/config/a')).toBe('/config/a');
    expect(group('/config/v2.0/networks/has space')).toBe(
      `${sha('/config/v2.0/networks/has space')}:/config/v2.0/networks/has_space`,
    );
    expect(group('/config/v2.0/networks/réseau')).toBe(
      `${sha('/config/v2.0/networks/réseau')}:/config/v2.0/networks/r_seau`,
    );
    const long = `/config/v2.0/networks/${'x'.repeat(200)}`;
    expect(group(long)).toBe(`${sha(long)}:${long.slice(-103)}`);
    expect(group(long)).toHaveLength(128);
    expect(group('x'.repeat(128))).toBe('x'.repeat(128));
    for (const key of ['/config/a b', '/config/ü', long, '/config/tab\there', '/config/\uffff'])
      expect(group(key)).toMatch(awsAccepts);
    // Keys that sanitize alike still have their own groups.
    expect(group('/config/a b')).not.toBe(group('/config/a\tb'));
  });

  test('a body SQS would refuse (U+FFFF) is escaped and decodes to the same key', () => {
    const m = { key: '/config/v2.0/networks/odd\uffff\ufffe', modRevision: 3, type: 'put' as const };
    const body = encodeEventMessage(m);
    expect(body).toBe('{"key":"/config/v2.0/networks/odd\\uffff\\ufffe","modRevision":3,"type":"put"}');
    expect(decodeEventMessage(body)).toEqual(m);
  });

  test('routes: defaults send /config/ to the config queue; ESI_RELAY_ROUTES replaces them', () => {
    const config = at(relayRoutes(undefined), 0, 'default routes');
    expect(config.prefix).toBe('/config/');
    expect(config.route({ key: '/config/v2.0/ports/p', modRevision: 1, type: 'put' }, '')).toBe('esi-dev-config.fifo');
    const custom = relayRoutes('/a/=qa.fifo, /b/=qb.fifo');
    expect(custom.map((r) => [r.prefix, r.route({ key: r.prefix, modRevision: 1, type: 'put' }, '')])).toEqual([
      ['/a/', 'qa.fifo'],
      ['/b/', 'qb.fifo'],
    ]);
    expect(() => relayRoutes('/a/')).toThrow(/not <prefix>=<queue name>/);
  });

  test('routes: a job goes to the queue of the handler its id names when it becomes ready, and only then', () => {
    const routes = new Map(relayRoutes(undefined).map((r) => [r.prefix, r.route]));
    expect([...routes.keys()]).toEqual(['/config/', '/jobs/all/', '/jobs/waiting/', '/jobs/finished/']);
    const heat = 'create:heat_worker:network:n1:1:abcde';
    const mon = 'create:monitoring_worker:port:p1:2:abcde';
    const all = routes.get('/jobs/all/')!;
    const waiting = routes.get('/jobs/waiting/')!;
    const ev = (key: string, type: 'put' | 'delete' | 'sync') => ({ key, modRevision: 5, type });
    const stored = (attempt: number) => JSON.stringify(['heat_worker', { id: heat }, attempt]);
    // Planned: the all put (attempt 0); a retry's put (attempt 1) and the clean-up's delete are not news.
    expect(all(ev(`/jobs/all/${heat}`, 'put'), stored(0))).toBe('esi-dev-heat-jobs.fifo');
    expect(all(ev(`/jobs/all/${mon}`, 'put'), stored(0))).toBe('esi-dev-monitoring-jobs.fifo');
    expect(all(ev(`/jobs/all/${heat}`, 'put'), stored(1))).toBeUndefined();
    expect(all(ev(`/jobs/all/${heat}`, 'delete'), '')).toBeUndefined();
    expect(all(ev(`/jobs/all/${heat}`, 'sync'), stored(1))).toBe('esi-dev-heat-jobs.fifo');
    // Settled: the waiting key's delete; its put (planning) is not.
    expect(waiting(ev(`/jobs/waiting/${mon}`, 'delete'), '')).toBe('esi-dev-monitoring-jobs.fifo');
    expect(waiting(ev(`/jobs/waiting/${mon}`, 'put'), 'monitoring_worker')).toBeUndefined();
    // A handler without a queue, or a key that is not a job id: nowhere.
    expect(all(ev('/jobs/all/create:nobody:network:n1:1:abcde', 'put'), stored(0))).toBeUndefined();
    expect(waiting(ev('/jobs/waiting/not-a-job', 'delete'), '')).toBeUndefined();
  });
});
