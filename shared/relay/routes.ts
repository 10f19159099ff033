/**
 * What the relay watches and where each event goes. Queue names follow shared/config queueName().
 */
import { JOB_QUEUES, queueName, setting } from '../config';
import { defaultJobKeys } from '../jobs/job-keys';
import { CONFIG_PREFIX } from '../keys';
import type { RouteFn } from './route-stream';

export interface RelayRoute {
  prefix: string;
  route: RouteFn;
}

/**
 * Default routes: every change under /config/ (resources and heat templates, puts and deletes)
 * goes to the planner; each ready job to its handler's queue; each finished job to the
 * aggregator. `ESI_RELAY_ROUTES` (`<prefix>=<queue name>,...`) replaces them, e.g. to
 * relay a test prefix to a queue of its own.
 */
export function relayRoutes(spec = setting('ESI_RELAY_ROUTES')): RelayRoute[] {
  if (spec) {
    return spec.split(',').map((pair) => {
      const [prefix, queue] = pair.split('=').map((s) => s.trim());
      if (!prefix || !queue) throw new Error(`ESI_RELAY_ROUTES: "${pair}" is not <prefix>=<queue name>`);
      return { prefix, route: () => queue };
    });
  }
  const config = queueName('config');
  const finished = queueName('finished');
  return [
    { prefix: CONFIG_PREFIX, route: () => config },
    // A ready job goes to its handler's queue; the delete that follows a claim is not work.
    {
      prefix: defaultJobKeys.prefix('ready'),
      route: (e, handler) => (e.type === 'delete' ? undefined : readyQueue(handler)),
    },
    // A finished job may complete its chain: the aggregator decides.
    { prefix: defaultJobKeys.prefix('finished'), route: (e) => (e.type === 'delete' ? undefined : finished) },
  ];
}

function readyQueue(handler: string): string | undefined {
  const name = JOB_QUEUES[handler];
  return name ? queueName(name) : undefined;
}
