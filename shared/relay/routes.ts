/** What the relay watches and where each event goes (queue names: shared/config queueName()). */
import { jobQueueName, queueName, setting } from '../config';
import type { EtcdEventMessage } from '../events/etcd-event-message';
import { defaultJobKeys, parseJobId } from '../jobs/job-keys';
import { CONFIG_PREFIX } from '../keys';

/** Chooses the queue for an event; undefined = not forwarded (still passes the checkpoint). */
export type RouteFn = (event: EtcdEventMessage, value: string) => string | undefined;

export type RelayRoute = { prefix: string; route: RouteFn };

/** The default routes (docs/jobs.md), or `ESI_RELAY_ROUTES` (`<prefix>=<queue name>,...`) instead. */
export function relayRoutes(spec = setting('ESI_RELAY_ROUTES')): RelayRoute[] {
  if (spec)
    return spec.split(',').map((pair) => {
      const [prefix, queue] = pair.split('=').map((s) => s.trim());
      if (!prefix || !queue) throw new Error(`ESI_RELAY_ROUTES: "${pair}" is not <prefix>=<queue name>`);
      return { prefix, route: () => queue };
    });
  const config = queueName('config');
  const finished = queueName('finished');
  return [
    { prefix: CONFIG_PREFIX, route: () => config },
    // A planned job may be ready (the claim refuses a waiting one); a retry's put of its attempt count is not news.
    {
      prefix: defaultJobKeys.prefix('all'),
      route: (e, value) => (e.type === 'sync' || (e.type === 'put' && isNewJob(value)) ? jobQueue(e) : undefined),
    },
    // The settlement deletes the waiting key of a job whose dependencies are done: it is ready (or failed).
    { prefix: defaultJobKeys.prefix('waiting'), route: (e) => (e.type === 'delete' ? jobQueue(e) : undefined) },
    // A finished job may complete its chain: the aggregator decides.
    { prefix: defaultJobKeys.prefix('finished'), route: (e) => (e.type === 'delete' ? undefined : finished) },
  ];
}

/** The queue of the handler the job id names (its second field): no value to read. */
function jobQueue(e: EtcdEventMessage): string | undefined {
  const handler = parseJobId(defaultJobKeys.parse(e.key)?.id ?? '')?.handler;
  return handler === undefined ? undefined : jobQueueName(handler);
}

/** The planner's put of `[handler, job, 0]`; a retry rewrites it with attempt + 1. Unreadable: sent (reported). */
function isNewJob(value: string): boolean {
  try {
    const v = JSON.parse(value) as unknown;
    return !Array.isArray(v) || v[2] === 0;
  } catch {
    return true;
  }
}
