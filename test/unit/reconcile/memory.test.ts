/** The reconciler's revision → time marks and memory merge (docs/reconciler.md "Time"). */
import {
  graceRevision,
  type Memory,
  memoryWriteDue,
  mergeMemory,
  parseMemory,
  secondsSinceAfter,
  withMark,
  MAX_MARKS,
} from '../../../shared/reconcile/memory';
import { at } from '../../helpers/at';

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

describe('the memory is written only when something in it changes meaningfully', () => {
  // The rule (docs/reconciler.md "Time"): write when the pass made repairs, when the jobs in limbo
  // changed, or when a new mark is due: etcd moved past the newest stored mark by more than the
  // memory's own write, and that mark is at least the spacing (here 2.5 s) old.
  const SPACING = 2_500;
  /** Stored: newest mark at revision 100 taken `ago` ms before T, the memory itself written at 101. */
  const stored = (ago: number, extra: Partial<Memory> = {}): Memory => ({
    marks: [
      { revision: 90, at: T - ago - 10_000 },
      { revision: 100, at: T - ago },
    ],
    limbo: { 'job-a': 95 },
    repaired: {},
    ...extra,
  });
  const pass = (
    revision: number,
    extra: { limbo?: Record<string, number>; repaired?: Record<string, number> } = {},
  ) => ({
    mark: { revision, at: T },
    limbo: extra.limbo ?? { 'job-a': 95 },
    repaired: extra.repaired ?? {},
  });
  /** What would be stored: only its limbo matters to the rule. */
  const next = (limbo: Record<string, number>): Memory => ({ marks: [], limbo, repaired: {} });

  test("nothing but the memory's own write since its newest mark: no write, however old the mark", () => {
    expect(memoryWriteDue(stored(3_600_000), 101, next({ 'job-a': 95 }), pass(101), SPACING)).toBe(false);
  });

  test('another write since the memory: a mark is due once the newest is the spacing old', () => {
    expect(memoryWriteDue(stored(60_000), 101, next({ 'job-a': 95 }), pass(102), SPACING)).toBe(true);
    expect(memoryWriteDue(stored(2_500), 101, next({ 'job-a': 95 }), pass(102), SPACING)).toBe(true);
    expect(memoryWriteDue(stored(2_499), 101, next({ 'job-a': 95 }), pass(102), SPACING)).toBe(false);
  });

  test('writes between the newest mark and the memory write are not dated yet: a mark is due', () => {
    // The memory was written at 103: revisions 101 and 102 are someone else's, after the mark.
    expect(memoryWriteDue(stored(60_000), 103, next({ 'job-a': 95 }), pass(103), SPACING)).toBe(true);
  });

  test('no memory yet, or one without marks: due', () => {
    expect(memoryWriteDue({ marks: [], limbo: {}, repaired: {} }, 0, next({}), pass(5, { limbo: {} }), SPACING)).toBe(
      true,
    );
  });

  test('repairs made, or limbo changed: due even on an idle etcd with a recent mark', () => {
    expect(memoryWriteDue(stored(0), 101, next({ 'job-a': 95 }), pass(101, { repaired: { r: 101 } }), SPACING)).toBe(
      true,
    );
    expect(memoryWriteDue(stored(0), 101, next({ 'job-a': 95, 'job-b': 101 }), pass(101), SPACING)).toBe(true);
    expect(memoryWriteDue(stored(0), 101, next({}), pass(101, { limbo: {} }), SPACING)).toBe(true);
    expect(memoryWriteDue(stored(0), 101, next({ 'job-a': 90 }), pass(101), SPACING)).toBe(true);
  });

  test('repairs that aged out are not a reason to write', () => {
    const old = stored(60_000, { repaired: { 'replan /config/x@50': 50 } });
    expect(memoryWriteDue(old, 101, next({ 'job-a': 95 }), pass(101), SPACING)).toBe(false);
  });
});

test('past MAX_MARKS the marks are thinned where dense for their age: recent ones stay, old ones still date a long horizon', () => {
  // 400 marks 2.5 s apart (a pass every 3 s with changes flowing, marks half a 5 s grace apart):
  // revision r recorded (399 - r) * 2.5 s before T. Added one by one, as passes do.
  let marks: ReturnType<typeof withMark> = [];
  for (let r = 0; r < 400; r++)
    marks = withMark(marks, { revision: r, at: T - (399 - r) * 2_500 }, T - (399 - r) * 2_500, 3_600_000);
  expect(marks).toHaveLength(MAX_MARKS);
  expect([at(marks, 0).revision, at(marks, -1).revision]).toEqual([0, 399]);
  // The last 50 s (a 50 s backlog grace) keep every mark: both graces are dated as without a cap.
  expect(marks.filter((m) => m.revision >= 379).map((m) => m.revision)).toEqual(
    Array.from({ length: 21 }, (_, i) => 379 + i),
  );
  expect(graceRevision(marks, T, 5_000)).toBe(397);
  expect(graceRevision(marks, T, 50_000)).toBe(379);
  // 900 s back (revision 39 exactly) is still dated, within 10% of its age (990 s: revision 3);
  // the newest 200 marks alone would reach back 497.5 s only.
  const g900 = graceRevision(marks, T, 900_000);
  expect(g900).toBeGreaterThanOrEqual(3);
  expect(g900).toBeLessThanOrEqual(39);
});
