import { retryDelaySeconds } from '../../../shared/sqs/consumer';

test('a failed record comes back after 5 s doubled per receive, at most 60 s', () => {
  expect([1, 2, 3, 4, 5, 6, 7, 10, 100].map(retryDelaySeconds)).toEqual([5, 10, 20, 40, 60, 60, 60, 60, 60]);
  // An absent or odd receive count is a first receive.
  expect([0, -1, NaN].map(retryDelaySeconds)).toEqual([5, 5, 5]);
});

test('in AWS the cap is 300 s (ESI_RETRY_MAX_DELAY_SECONDS): 20 receives span more than 30 minutes of an outage', () => {
  process.env.ESI_RETRY_MAX_DELAY_SECONDS = '300';
  try {
    const delays = Array.from({ length: 19 }, (_, i) => retryDelaySeconds(i + 1));
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, ...Array(13).fill(300)]);
    // The delays between the 20 receives of serverless.yml's maxReceiveCount: 4215 s, about 70 minutes.
    expect(delays.reduce((a, b) => a + b, 0)).toBe(4215);
  } finally {
    delete process.env.ESI_RETRY_MAX_DELAY_SECONDS;
  }
});
