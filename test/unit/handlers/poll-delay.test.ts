import { pollDelayFor } from '../../../shared/work/job-runner';

test('poll message delays double from 1 s up to the configured interval', () => {
  expect([0, 1, 2, 3, 4, 5, 40].map((n) => pollDelayFor(n, 5))).toEqual([1, 2, 4, 5, 5, 5, 5]);
  expect([0, 3, 6].map((n) => pollDelayFor(n, 30))).toEqual([1, 8, 30]);
  // An interval of 0 (tests) sends every poll message at once.
  expect(pollDelayFor(3, 0)).toBe(0);
});
