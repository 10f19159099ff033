/** Reconciler: on a schedule, re-sends the messages etcd shows were lost. Logic: shared/reconcile/. */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { createLogger } from '../../shared/log/logger';
import { flushMetrics } from '../../shared/metrics';
import { reconcilePass } from '../../shared/reconcile/pass';
import { loadSecrets } from '../../shared/secrets';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-reconciler');

export const handler = middy()
  .use(injectLambdaContext(logger))
  .before(() => loadSecrets().then(() => undefined))
  .handler(async () => {
    try {
      const r = await reconcilePass(defaultStore(), { logger });
      return { repairs: r.repairs.length, failed: r.failed.length, awaiting: r.awaiting.length, keysRead: r.keysRead };
    } finally {
      flushMetrics('esi-reconciler');
    }
  });
