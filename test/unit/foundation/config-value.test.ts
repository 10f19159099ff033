import { encodeGohanConfigValue, parseConfigValue } from '../../../shared/gohan/config-value';

describe('parseConfigValue', () => {
  test('accepts Gohan wire format with body as escaped JSON text', () => {
    const raw = '{"body":"{\\"id\\":\\"n1\\",\\"name\\":\\"net\\"}","marked_for_deletion":false,"version":3}';
    expect(parseConfigValue(raw)).toEqual({
      ok: true,
      value: { body: { id: 'n1', name: 'net' }, version: 3, markedForDeletion: false },
    });
  });

  test('accepts the decoded body the seeds show', () => {
    const raw = JSON.stringify({ body: { id: 'p1', attached: true }, version: 4, marked_for_deletion: true });
    expect(parseConfigValue(raw)).toEqual({
      ok: true,
      value: { body: { id: 'p1', attached: true }, version: 4, markedForDeletion: true },
    });
  });

  test('marked_for_deletion absent means false', () => {
    const r = parseConfigValue('{"body":{},"version":1}');
    expect(r.ok && r.value.markedForDeletion).toBe(false);
  });

  test.each([
    ['not JSON', 'not json', /not JSON/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['no version', '{"body":{}}', /no valid "version"/],
    ['version 0', '{"body":{},"version":0}', /no valid "version"/],
    ['version as text', '{"body":{},"version":"2"}', /no valid "version"/],
    ['body text that is not JSON', '{"body":"{oops","version":2}', /body is a string but not JSON/],
    ['no body', '{"version":2}', /no "body" object/],
    ['marked_for_deletion not boolean', '{"body":{},"version":2,"marked_for_deletion":"yes"}', /not a boolean/],
  ])('rejects %s with a readable error', (_name, raw, message) => {
    const r = parseConfigValue(raw);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(message);
  });

  test('the error never quotes the value (it may carry passwords)', () => {
    const r = parseConfigValue('{"body":"{\\"admin_password\\":\\"hunter2\\"", "version":1}');
    expect(!r.ok && r.error).not.toContain('hunter2');
  });

  test('encodes as Gohan does: compact, keys sorted, body as text', () => {
    expect(encodeGohanConfigValue({ name: 'n', id: 'i', nested: { b: 1, a: 2 } }, 2)).toBe(
      '{"body":"{\\"id\\":\\"i\\",\\"name\\":\\"n\\",\\"nested\\":{\\"a\\":2,\\"b\\":1}}","marked_for_deletion":false,"version":2}',
    );
  });
});
