/** Keeps /monitoring/<path> current from the collector, as its etcd syncer did (docs/decisions.md "/monitoring"). */
import { isDeepStrictEqual } from 'node:util';
import type { CollectorClient, Target, TargetValue } from '../clients/collector';
import { isPlainObject, parseJsonObject } from '../encoding/json-object';
import { pyDumps } from '../encoding/pyjson';
import { keys } from '../keys';
import type { Logger } from '../log/logger';
import { pathOfPlural } from '../resource-path';
import { writeVersioned, type GuardedWriteResult } from '../state/guarded-write';
import type { Store } from '../store/store';

/** What the targets of one resource say; `held` fields keep their stored status. */
type MonitoringUpdate = { key: string; version: number; fields: Record<string, unknown>; held: string[] };

function etcdSyncer(t: Target): Record<string, unknown> | undefined {
  const etcd = (t.syncer_properties as { etcd?: unknown } | undefined)?.etcd;
  return isPlainObject(etcd) ? etcd : undefined;
}

function reportsOf(t: Target): { field: string; value: TargetValue }[] {
  const values = t.values ?? [];
  return Object.entries(etcdSyncer(t) ?? {}).flatMap(([valueKey, spec]) => {
    const field = (spec as { key?: unknown } | null)?.key;
    const value = values.find((v) => v.key === valueKey);
    return valueKey !== 'hold_options' && typeof field === 'string' && value ? [{ field, value }] : [];
  });
}

function isHeld(t: Target, value: TargetValue, now: number): boolean {
  const hold = etcdSyncer(t)?.hold_options as { positive_status?: unknown; time_seconds?: unknown } | undefined;
  if (!hold || typeof hold.time_seconds !== 'number') return false;
  const positive = Array.isArray(hold.positive_status) ? hold.positive_status : [hold.positive_status];
  if (positive.some((p) => isDeepStrictEqual(p, value.value))) return false;
  const since = value.last_changed ? Date.parse(value.last_changed) : NaN;
  return Number.isNaN(since) || now - since < hold.time_seconds * 1000;
}

/** Pure: per resource, the merged statuses of its etcd-synced targets of the highest version. */
export function monitoringUpdates(targets: Target[], now: number): MonitoringUpdate[] {
  const byKey = new Map<string, Target[]>();
  for (const t of targets) {
    if (typeof t.version !== 'number' || !t.resource_type || !t.resource_id || !etcdSyncer(t)) continue;
    const key = keys.monitoring(pathOfPlural(t.resource_type, t.resource_id));
    byKey.set(key, [...(byKey.get(key) ?? []), t]);
  }
  const updates: MonitoringUpdate[] = [];
  for (const [key, list] of byKey) {
    const version = Math.max(...list.map((t) => t.version as number));
    const fields: Record<string, unknown> = {};
    const held: string[] = [];
    // By id, so two targets naming one field always resolve the same way.
    for (const t of list.filter((x) => x.version === version).sort((a, b) => (a.id < b.id ? -1 : 1))) {
      for (const r of reportsOf(t)) {
        if (isHeld(t, r.value, now)) held.push(r.field);
        else fields[r.field] = r.value.value;
      }
    }
    if (Object.keys(fields).length || held.length) updates.push({ key, version, fields, held });
  }
  return updates;
}

/** Pure: the value to store, given what is stored; undefined when there is nothing to say yet. */
export function monitoringValue(u: MonitoringUpdate, stored: Record<string, unknown> | undefined): string | undefined {
  const fields = { ...u.fields };
  if (stored && stored.version === u.version)
    for (const f of u.held) if (f in stored && !(f in fields)) fields[f] = stored[f];
  const names = Object.keys(fields).sort();
  if (!names.length) return undefined;
  return pyDumps({ version: u.version, ...Object.fromEntries(names.map((n) => [n, fields[n]])) });
}

export async function syncMonitoring(store: Store, collector: CollectorClient, logger: Logger, now = Date.now) {
  const counts: Record<GuardedWriteResult | 'held', number> = { written: 0, unchanged: 0, older: 0, held: 0 };
  for (const u of monitoringUpdates(await collector.findTargets({}), now())) {
    const value = monitoringValue(u, parseJsonObject((await store.get(u.key))?.value ?? ''));
    const result = value === undefined ? 'held' : await writeVersioned(store, u.key, u.version, value);
    counts[result]++;
    if (result === 'written')
      logger.info('monitoring status written', { resource_key: u.key, version: u.version, value });
  }
  return counts;
}
