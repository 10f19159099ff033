/** Reconciler: on a schedule, re-sends the messages etcd shows were lost. Logic: shared/reconcile/. */
import { createLogger } from '../../shared/log/logger';
import { flushMetrics } from '../../shared/metrics';
import { reconcilePass } from '../../shared/reconcile/pass';
import { scheduledHandler } from '../../shared/scheduled';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-reconciler');

export const handler = scheduledHandler(logger, async () => {
  try {
    const r = await reconcilePass(defaultStore(), { logger });
    return {
      repairs: r.repairs.length,
      failed: r.failed.length,
      awaiting: r.awaiting.length,
      deferred: r.deferred.length,
      keysRead: r.keysRead,
    };
  } finally {
    flushMetrics('esi-reconciler');
  }
});
