import {
  decodeEventMessage,
  deduplicationId,
  encodeEventMessage,
  messageGroupId,
} from '../../../shared/events/etcd-event-message';
import { keys, parseConfigKey } from '../../../shared/keys';
import { relayRoutes } from '../../../shared/relay/routes';

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
    expect(keys.workerConfig(r)).toBe('/esi-worker/config/v2.0/ports/p1');
    expect(keys.heatStack(r)).toBe('/esi-worker/heat_stacks/v2.0/ports/p1');
    expect(keys.jobState(r)).toBe('/esi-worker/job_state/v2.0/ports/p1');
    expect(keys.state(r)).toBe('/state/v2.0/ports/p1');
    expect(keys.monitoring(r)).toBe('/monitoring/v2.0/ports/p1');
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

  test("message group is the key, hashed only past SQS's 128-character limit", () => {
    expect(messageGroupId({ key: '/config/a', modRevision: 1, type: 'put' })).toBe('/config/a');
    expect(messageGroupId({ key: `/config/${'x'.repeat(200)}`, modRevision: 1, type: 'put' })).toHaveLength(64);
  });

  test('routes: defaults send /config/ to the config queue; ESI_RELAY_ROUTES replaces them', () => {
    const [config] = relayRoutes(undefined);
    expect(config.prefix).toBe('/config/');
    expect(config.route({ key: '/config/v2.0/ports/p', modRevision: 1, type: 'put' }, '')).toBe('esi-dev-config.fifo');
    const custom = relayRoutes('/a/=qa.fifo, /b/=qb.fifo');
    expect(custom.map((r) => [r.prefix, r.route({ key: r.prefix, modRevision: 1, type: 'put' }, '')])).toEqual([
      ['/a/', 'qa.fifo'],
      ['/b/', 'qb.fifo'],
    ]);
    expect(() => relayRoutes('/a/')).toThrow(/not <prefix>=<queue name>/);
  });
});
