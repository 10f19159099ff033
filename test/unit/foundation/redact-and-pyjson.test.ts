import { pyDumps } from '../../../shared/encoding/pyjson';
import { MASK, redact, redactError, redactText } from '../../../shared/log/redact';

describe('redact', () => {
  test('masks secret-named fields at any depth, keeps the rest', () => {
    const body = {
      name: 'lb',
      admin_password: 'a1',
      nested: [{ user_password: 'u1', port: 80 }],
      auth: { token: 't', client_secret: 's', private_key: 'k' },
    };
    expect(redact(body)).toEqual({
      name: 'lb',
      admin_password: MASK,
      nested: [{ user_password: MASK, port: 80 }],
      auth: { token: MASK, client_secret: MASK, private_key: MASK },
    });
    expect(body.admin_password).toBe('a1');
  });

  test('masks secret pairs inside text, plain or escaped JSON', () => {
    expect(JSON.parse(redactText('{"admin_password": "a1", "name": "x"}'))).toEqual({
      admin_password: MASK,
      name: 'x',
    });
    expect(redactText('login failed with {"password": "a1"} at host')).toBe(
      `login failed with {"password": "${MASK}"} at host`,
    );
    const wire = JSON.stringify({ body: JSON.stringify({ user_password: 'p@ss"w', id: 'i' }), version: 1 });
    const out = redactText(wire);
    expect(out).not.toContain('p@ss');
    expect(JSON.parse(JSON.parse(out).body)).toEqual({ user_password: MASK, id: 'i' });
  });

  test('errors keep their name and lose their secrets, causes included', () => {
    const cause = new Error('{"password": "c1"}');
    const err = redactError(Object.assign(new TypeError('bad {"password": "e1"}'), { cause }));
    expect(err.name).toBe('TypeError');
    expect(err.message).toBe(`bad {"password": "${MASK}"}`);
    expect(String((err as Error & { cause: Error }).cause.message)).not.toContain('c1');
  });
});

describe('pyDumps', () => {
  test('writes Python json.dumps style separators and ASCII escapes', () => {
    expect(pyDumps({ b: [1, 'x'], a: { c: null, d: true } })).toBe('{"b": [1, "x"], "a": {"c": null, "d": true}}');
    expect(pyDumps({ b: 1, a: 2 }, { sortKeys: true })).toBe('{"a": 2, "b": 1}');
    expect(pyDumps('caf\u00e9 \u2713')).toBe('"caf\\u00e9 \\u2713"');
    expect(pyDumps([])).toBe('[]');
    expect(pyDumps({})).toBe('{}');
  });
});
