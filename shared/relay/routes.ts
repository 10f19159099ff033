/**
 * What the relay watches and where each event goes. Queue names follow shared/config queueName().
 */
import { queueName } from '../config';
import { CONFIG_PREFIX } from '../keys';
import type { RouteFn } from './relay';

export interface RelayRoute {
  prefix: string;
  route: RouteFn;
}

/**
 * Default routes: every change under /config/ (resources and heat templates, puts and deletes)
 * goes to the planner. `ESI_RELAY_ROUTES` (`<prefix>=<queue name>,...`) replaces them, e.g. to
 * relay a test prefix to a queue of its own.
 */
export function relayRoutes(spec = process.env.ESI_RELAY_ROUTES): RelayRoute[] {
  if (spec) {
    return spec.split(',').map((pair) => {
      const [prefix, queue] = pair.split('=').map((s) => s.trim());
      if (!prefix || !queue) throw new Error(`ESI_RELAY_ROUTES: "${pair}" is not <prefix>=<queue name>`);
      return { prefix, route: () => queue };
    });
  }
  const config = queueName('config');
  return [{ prefix: CONFIG_PREFIX, route: () => config }];
}
