import { retryDelaySeconds } from '../../../shared/sqs/consumer';

test('a failed record comes back after 5 s doubled per receive, at most 60 s', () => {
  expect([1, 2, 3, 4, 5, 6, 7, 10, 100].map(retryDelaySeconds)).toEqual([5, 10, 20, 40, 60, 60, 60, 60, 60]);
  // An absent or odd receive count is a first receive.
  expect([0, -1, NaN].map(retryDelaySeconds)).toEqual([5, 5, 5]);
});
