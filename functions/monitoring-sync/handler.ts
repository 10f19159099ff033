/** Monitoring sync: on a schedule, turns the collector's target statuses into /monitoring values. */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { CollectorClient } from '../../shared/clients/collector';
import { openstackSettings } from '../../shared/clients/settings';
import { createLogger } from '../../shared/log/logger';
import { syncMonitoring } from '../../shared/monitoring/sync';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-monitoring-sync');
let collector: CollectorClient | undefined;

export const handler = middy()
  .use(injectLambdaContext(logger))
  .handler(async () => {
    const url = openstackSettings().collectorUrl;
    if (!url) throw new Error('ESI_COLLECTOR_URL is not set');
    collector ??= new CollectorClient({ baseUrl: url });
    const counts = await syncMonitoring(defaultStore(), collector, logger);
    logger.info('monitoring sync done', counts);
    return counts;
  });
