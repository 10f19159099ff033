import { fromResponse, fromThrown, RetryableError, safeUrl, TerminalError } from '../../../shared/clients/errors';
import { normalizeAuthUrl, parseKeystoneTime } from '../../../shared/clients/keystone';
import { normalizeOutputs } from '../../../shared/heat/records';
import { splitStackStatus } from '../../../shared/heat/operation';
import { openstackSettings, SettingsError } from '../../../shared/clients/settings';

const REQUIRED = {
  ESI_KEYSTONE_URL: 'https://ks.example:5000/v3',
  ESI_KEYSTONE_USERNAME: 'esi',
  ESI_KEYSTONE_PASSWORD: 's3cret pw',
  ESI_KEYSTONE_PROJECT: 'admin',
};

describe('openstackSettings', () => {
  it('reads the variables with their defaults', () => {
    expect(openstackSettings({ ...REQUIRED })).toEqual({
      keystone: {
        authUrl: 'https://ks.example:5000/v3',
        username: 'esi',
        password: 's3cret pw',
        userDomainName: 'Default',
        projectName: 'admin',
        projectDomainName: 'Default',
        interface: 'public',
        region: undefined,
      },
      collectorUrl: undefined,
      httpTimeoutMs: 10000,
      retry: { retries: 3, initialDelayMs: 200, maxDelayMs: 2000 },
    });
  });

  it('takes every optional variable', () => {
    const s = openstackSettings({
      ...REQUIRED,
      ESI_KEYSTONE_USER_DOMAIN: 'users',
      ESI_KEYSTONE_PROJECT_DOMAIN: 'projects',
      ESI_HEAT_INTERFACE: 'internal',
      ESI_HEAT_REGION: 'RegionTwo',
      ESI_COLLECTOR_URL: 'http://collector-agents:7070',
      ESI_HTTP_TIMEOUT_MS: '2500',
      ESI_HTTP_RETRIES: '0',
      ESI_HTTP_RETRY_DELAY_MS: '50',
      ESI_HTTP_RETRY_MAX_DELAY_MS: '400',
    });
    expect([
      s.keystone.userDomainName,
      s.keystone.projectDomainName,
      s.keystone.interface,
      s.keystone.region,
      s.collectorUrl,
      s.httpTimeoutMs,
      s.retry,
    ]).toEqual([
      'users',
      'projects',
      'internal',
      'RegionTwo',
      'http://collector-agents:7070',
      2500,
      { retries: 0, initialDelayMs: 50, maxDelayMs: 400 },
    ]);
  });

  it('names missing variables and never echoes the password', () => {
    expect(() => openstackSettings({ ESI_KEYSTONE_URL: 'http://x' })).toThrow(
      'missing OpenStack settings: ESI_KEYSTONE_USERNAME, ESI_KEYSTONE_PASSWORD, ESI_KEYSTONE_PROJECT',
    );
    expect(() => openstackSettings({ ...REQUIRED, ESI_HEAT_INTERFACE: 'private' })).toThrow(SettingsError);
    expect(() => openstackSettings({ ...REQUIRED, ESI_HTTP_RETRIES: '-1' })).toThrow(
      'ESI_HTTP_RETRIES must be an integer ≥ 0, got "-1"',
    );
    let msg = '';
    try {
      openstackSettings({ ...REQUIRED, ESI_KEYSTONE_URL: 'not a url s3cret pw' });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toBe('ESI_KEYSTONE_URL is not a URL');
  });
});

describe('error classes', () => {
  const heatBody = (type: string, message: string) => ({
    explanation: 'x',
    code: 0,
    title: 't',
    error: { message, traceback: null, type },
  });

  it.each([
    [500, 'HTTPInternalServerError', RetryableError],
    [502, 'HTTPBadGateway', RetryableError],
    [503, 'HTTPServiceUnavailable', RetryableError],
    [429, 'TooManyRequests', RetryableError],
    [409, 'ActionInProgress', RetryableError],
    [409, 'StackExists', TerminalError],
    [400, 'StackValidationFailed', TerminalError],
    [403, 'Forbidden', TerminalError],
    [404, 'StackNotFound', TerminalError],
  ])('%p %s → %p', (status, type, cls) => {
    const e = fromResponse('heat', 'heat POST /v1/t/stacks', status, heatBody(type, 'msg'));
    expect(e).toBeInstanceOf(cls);
    expect([e.status, e.type, e.serviceMessage, e.message]).toEqual([
      status,
      type,
      'msg',
      `heat POST /v1/t/stacks: ${status} ${type}: msg`,
    ]);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EAI_AGAIN'])('%s → RetryableError', (code) => {
    const err = Object.assign(new Error(`connect ${code}`), {
      code,
      config: { headers: { 'X-Auth-Token': 'tok-123' }, data: '{"password": "pw-123"}' },
    });
    const e = fromThrown('keystone', 'keystone POST https://ks/v3/auth/tokens', err);
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.code).toBe(code);
    // The cause is a bare copy: no request config with the token or the password.
    expect((e.cause as Record<string, unknown>).config).toBeUndefined();
    expect(JSON.stringify({ ...(e.cause as object) })).not.toMatch(/tok-123|pw-123/);
  });

  it('secret pairs in a service message are masked', () => {
    const e = fromResponse('collector', 'collector POST /targets', 400, { error: 'bad body {"password": "hunter2"}' });
    expect(e.message).not.toContain('hunter2');
    expect(e.serviceMessage).not.toContain('hunter2');
  });

  it('safeUrl drops credentials and the query', () => {
    expect(safeUrl('https://u:p@ks.example:5000/v3/auth/tokens?nocatalog=1')).toBe(
      'https://ks.example:5000/v3/auth/tokens',
    );
  });
});

describe('small parsers', () => {
  it('Keystone times with microseconds', () => {
    expect(parseKeystoneTime('2019-11-09T13:21:08.123456Z')).toBe(Date.UTC(2019, 10, 9, 13, 21, 8, 123));
    expect(parseKeystoneTime('2019-11-09T13:21:08Z')).toBe(Date.UTC(2019, 10, 9, 13, 21, 8));
    expect(parseKeystoneTime(undefined)).toBeNaN();
  });

  it('auth URL with or without /v3', () => {
    expect(normalizeAuthUrl('https://ks:5000')).toBe('https://ks:5000/v3');
    expect(normalizeAuthUrl('https://ks:5000/v3/')).toBe('https://ks:5000/v3');
    expect(normalizeAuthUrl('https://ks/identity/v3')).toBe('https://ks/identity/v3');
  });

  it.each([
    ['CREATE_COMPLETE', 'CREATE', 'COMPLETE'],
    ['UPDATE_IN_PROGRESS', 'UPDATE', 'IN_PROGRESS'],
    ['DELETE_FAILED', 'DELETE', 'FAILED'],
    ['ROLLBACK_COMPLETE', 'ROLLBACK', 'COMPLETE'],
  ])('%s', (status, action, state) => {
    expect(splitStackStatus(status)).toEqual({ action, state });
  });

  it("outputs keep three fields; a missing value is null, a missing description Heat's default", () => {
    expect(
      normalizeOutputs([
        { output_key: 'a', output_value: 1, description: 'd', output_error: 'x' },
        { output_key: 'b' },
        { nope: 1 },
      ]),
    ).toEqual([
      { output_key: 'a', output_value: 1, description: 'd' },
      { output_key: 'b', output_value: null, description: 'No description given' },
    ]);
  });
});
