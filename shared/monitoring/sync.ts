/**
 * Keeps /monitoring/<path> = {"version": N, "<field_name>": <status>} current from the collector,
 * as the collector's etcd syncer did in the original deployment. Runs on a schedule; each run
 * reads every target once and writes only what changed (versionedPut: an old target version never
 * overwrites a newer one, an unchanged status writes nothing, so Gohan sees no false changes).
 */
import type { CollectorClient, Target } from '../clients/collector';
import { keys } from '../keys';
import type { Logger } from '../log/logger';
import { pathOfPlural } from '../resource-path';
import { writeMonitoring, type GuardedWriteResult } from '../state/guarded-write';
import type { Store } from '../store/store';

export interface MonitoringUpdate {
  key: string;
  version: number;
  fieldName: string;
  status: unknown;
}

/**
 * Pure: the /monitoring values the targets imply. One per resource and field, from the target of
 * the highest version; a target with no reported status yet gives none.
 */
export function monitoringUpdates(targets: Target[]): MonitoringUpdate[] {
  const best = new Map<string, MonitoringUpdate>();
  for (const t of targets) {
    const status = statusOf(t);
    if (status === undefined || typeof t.version !== 'number' || !t.resource_type || !t.resource_id) continue;
    const fieldName = t.field_name ?? 'status';
    const key = keys.monitoring(pathOfPlural(t.resource_type, t.resource_id));
    const slot = `${key}\u0000${fieldName}`;
    const prev = best.get(slot);
    if (!prev || t.version > prev.version) best.set(slot, { key, version: t.version, fieldName, status });
  }
  return [...best.values()];
}

/** The status an agent reported: the `status` value, else the first value reported. */
function statusOf(t: Target): unknown {
  const values = t.values ?? [];
  return (values.find((v) => v.key === 'status') ?? values[0])?.value;
}

export async function syncMonitoring(
  store: Store,
  collector: CollectorClient,
  logger: Logger,
): Promise<Record<GuardedWriteResult, number>> {
  const counts: Record<GuardedWriteResult, number> = { written: 0, unchanged: 0, older: 0 };
  for (const u of monitoringUpdates(await collector.findTargets({}))) {
    const result = await writeMonitoring(store, u.key, u.version, u.fieldName, u.status);
    counts[result]++;
    if (result === 'written')
      logger.info('monitoring status written', {
        resource_key: u.key,
        version: u.version,
        field_name: u.fieldName,
        status: u.status as string,
      });
  }
  return counts;
}
