import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { retryDelaySeconds } from '../../../shared/sqs/consumer';
import { retryBudgetSeconds } from '../../helpers/retry-budget';

const params = YAML.parse(fs.readFileSync(path.join(__dirname, '../../../serverless.yml'), 'utf8')).params.default;

test('a failed record comes back after 5 s doubled per receive, at most 60 s', () => {
  expect([1, 2, 3, 4, 5, 6, 7, 10, 100].map((n) => retryDelaySeconds(n))).toEqual([5, 10, 20, 40, 60, 60, 60, 60, 60]);
  // An absent or odd receive count is a first receive.
  expect([0, -1, NaN].map((n) => retryDelaySeconds(n))).toEqual([5, 5, 5]);
});

test('in AWS the cap is 300 s (ESI_RETRY_MAX_DELAY_SECONDS)', () => {
  process.env.ESI_RETRY_MAX_DELAY_SECONDS = '300';
  try {
    const delays = Array.from({ length: 19 }, (_, i) => retryDelaySeconds(i + 1));
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, ...Array(13).fill(300)]);
  } finally {
    delete process.env.ESI_RETRY_MAX_DELAY_SECONDS;
  }
});

test('the retry budget is the sum of the delays after receives 1 … n−1', () => {
  expect(retryBudgetSeconds(1, 60)).toBe(0);
  expect(retryBudgetSeconds(2, 60)).toBe(5);
  // 10 receives, 60 s cap: 5+10+20+40 + 5×60.
  expect(retryBudgetSeconds(10, 60)).toBe(375);
  // 20 receives, 60 s cap (the local stack): 5+10+20+40 + 15×60.
  expect(retryBudgetSeconds(20, 60)).toBe(975);
  // 20 receives, 300 s cap: 5+10+20+40+80+160 + 13×300.
  expect(retryBudgetSeconds(20, 300)).toBe(4215);
});

test("serverless.yml's deployed cap and receive count outlast an outage of 30 minutes", () => {
  const budget = retryBudgetSeconds(Number(params.maxReceiveCount), Number(params.retryMaxDelaySeconds));
  expect(budget).toBeGreaterThanOrEqual(1800);
});
