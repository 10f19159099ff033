/** The reconciler's revision → time marks and memory merge (docs/reconciler.md "Time"). */
import { graceRevision, mergeMemory, parseMemory, secondsSinceAfter, withMark } from '../../../shared/reconcile/memory';

const T = 1_000_000_000;

test('the grace revision is the highest revision read at least the grace period ago', () => {
  const marks = [
    { revision: 10, at: T - 60_000 },
    { revision: 20, at: T - 31_000 },
    { revision: 30, at: T - 29_000 },
  ];
  expect(graceRevision(marks, T, 30_000)).toBe(20);
  expect(graceRevision(marks, T, 61_000)).toBe(0);
  expect(graceRevision(marks, T, 0)).toBe(30);
  expect(graceRevision([], T, 0)).toBe(0);
});

test('a change after a revision is at least as old as the earliest mark above that revision', () => {
  const marks = [
    { revision: 10, at: T - 60_000 },
    { revision: 20, at: T - 30_000 },
  ];
  expect(secondsSinceAfter(marks, 5, T)).toBe(60);
  expect(secondsSinceAfter(marks, 10, T)).toBe(30);
  expect(secondsSinceAfter(marks, 20, T)).toBe(0);
});

test('marks keep everything recent plus the newest older one; the same revision keeps its earlier time', () => {
  const marks = withMark(
    [
      { revision: 1, at: T - 10_000 },
      { revision: 2, at: T - 9_000 },
      { revision: 3, at: T - 1_000 },
      { revision: 3, at: T - 2_000 },
    ],
    { revision: 4, at: T },
    T,
    5_000,
  );
  expect(marks).toEqual([
    { revision: 2, at: T - 9_000 },
    { revision: 3, at: T - 2_000 },
    { revision: 4, at: T },
  ]);
});

test('merging with what another pass stored: limbo as this pass saw it (earliest sighting), recent repairs united', () => {
  const stored = {
    marks: [{ revision: 10, at: T - 60_000 }],
    limbo: { a: 5, gone: 3 },
    repaired: { 'old repair': 9, 'their repair': 40 },
  };
  const merged = mergeMemory(
    stored,
    { mark: { revision: 50, at: T }, limbo: { a: 50, b: 50 }, repaired: { 'my repair': 50 } },
    { nowMs: T, graceMs: 30_000, keepMs: 3_600_000 },
  );
  expect(merged).toEqual({
    marks: [
      { revision: 10, at: T - 60_000 },
      { revision: 50, at: T },
    ],
    limbo: { a: 5, b: 50 },
    // Grace revision is 10: a repair at or below it may be made again, so it is forgotten.
    repaired: { 'their repair': 40, 'my repair': 50 },
  });
});

test('an unreadable memory is an empty one', () => {
  expect(parseMemory('not json')).toEqual({ marks: [], limbo: {}, repaired: {} });
  expect(parseMemory(undefined)).toEqual({ marks: [], limbo: {}, repaired: {} });
  expect(parseMemory('{"marks":[{"revision":1,"at":2},{"revision":"x"}],"limbo":{"a":1,"b":"x"}}')).toEqual({
    marks: [{ revision: 1, at: 2 }],
    limbo: { a: 1 },
    repaired: {},
  });
});
