// Typed access for tests under noUncheckedIndexedAccess: a missing element or key fails the test with
// a message naming what was missing, instead of a later "cannot read properties of undefined".

function shown(list: readonly unknown[]): string {
  const text = JSON.stringify(list) ?? String(list);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** The single element of `list`; throws naming `what` when the list does not hold exactly one. */
export function only<T>(list: readonly T[], what = 'list'): T {
  if (list.length !== 1) throw new Error(`${what}: expected exactly 1 element, got ${list.length}: ${shown(list)}`);
  return list[0] as T;
}

/** Element `i` of `list` (a negative `i` counts from the end); throws naming `what` when there is none. */
export function at<T>(list: readonly T[], i: number, what = 'list'): T {
  const index = i < 0 ? list.length + i : i;
  if (index < 0 || index >= list.length) {
    throw new Error(`${what}: no element at ${i} (length ${list.length}): ${shown(list)}`);
  }
  return list[index] as T;
}

/** The value under `key` in `record`; throws naming `what` and the keys present when it is absent. */
export function get<T>(record: Readonly<Record<string, T>>, key: string, what = 'record'): T {
  const value = record[key];
  if (value === undefined) {
    throw new Error(`${what}: no key ${JSON.stringify(key)} (keys: ${Object.keys(record).join(', ') || 'none'})`);
  }
  return value;
}
