/** Monitoring sync: on a schedule, turns the collector's target statuses into /monitoring values. Logic: shared/monitoring/sync.ts. */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { defaultCollectorClient } from '../../shared/clients/collector';
import { createLogger } from '../../shared/log/logger';
import { syncMonitoring } from '../../shared/monitoring/sync';
import { loadSecrets } from '../../shared/secrets';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-monitoring-sync');

export const handler = middy()
  .use(injectLambdaContext(logger))
  .before(() => loadSecrets().then(() => undefined))
  .handler(async () => {
    const counts = await syncMonitoring(defaultStore(), defaultCollectorClient(), logger);
    logger.info('monitoring sync done', counts);
    // The Node that ran it: one look at an invocation's result tells which runtime a stack runs.
    return { ...counts, node: process.version };
  });
