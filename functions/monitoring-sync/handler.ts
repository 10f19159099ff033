/** Monitoring sync: on a schedule, turns the collector's target statuses into /monitoring values. Logic: shared/monitoring/sync.ts. */
import { defaultCollectorClient } from '../../shared/clients/collector';
import { createLogger } from '../../shared/log/logger';
import { syncMonitoring } from '../../shared/monitoring/sync';
import { scheduledHandler } from '../../shared/scheduled';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-monitoring-sync');

export const handler = scheduledHandler(logger, async () => {
  const counts = await syncMonitoring(defaultStore(), defaultCollectorClient(), logger);
  logger.info('monitoring sync done', counts);
  return counts;
});
