import { retryDelaySeconds } from '../../shared/sqs/consumer';

/** How long a record may keep failing before it is dead-lettered: the delays between its receives. */
export function retryBudgetSeconds(maxReceiveCount: number, maxSeconds: number): number {
  let total = 0;
  for (let n = 1; n < maxReceiveCount; n++) total += retryDelaySeconds(n, maxSeconds);
  return total;
}
