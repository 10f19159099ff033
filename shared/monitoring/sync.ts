/**
 * Keeps /monitoring/<path> current from the collector, as the collector's etcd syncer did in the
 * original deployment. Runs on a schedule; each run reads every target once and, per resource,
 * merges all its targets into ONE value `{"version": N, "<field>": <status>, …}` that is written
 * only when it differs from what is stored (never over a newer version), so a resource with
 * several targets (an internet gateway's two counters, a VPN interface's three) is not rewritten
 * on every run and Gohan sees no false changes.
 *
 * Only a target whose `syncer_properties` name an `etcd` syncer is written here, and only the
 * values that syncer maps: `{"<value key>": {"key": "<field>"}, …}` (the record's templates all
 * map `status`, to the field_name or another key). A target for the time-series store only
 * (`tsdb`, e.g. a VPN interface's per-router traffic targets) never reaches /monitoring, nor does
 * a reported value the etcd syncer does not map (traffic counters). `hold_options`
 * `{positive_status, time_seconds}` holds back a status that is not positive until it has lasted
 * `time_seconds` (the collector's `last_changed`): the field keeps its stored value meanwhile.
 */
import { isDeepStrictEqual } from 'node:util';
import type { CollectorClient, Target, TargetValue } from '../clients/collector';
import { pyDumps } from '../encoding/pyjson';
import { keys } from '../keys';
import type { Logger } from '../log/logger';
import { pathOfPlural } from '../resource-path';
import { writeVersioned, type GuardedWriteResult } from '../state/guarded-write';
import type { Store } from '../store/store';

/** What the targets of one resource say, before the stored value fills held fields. */
export interface MonitoringUpdate {
  key: string;
  /** The highest target version of the resource: only its targets are merged. */
  version: number;
  /** Field → status, from the targets of that version. */
  fields: Record<string, unknown>;
  /** Fields whose new status is held back (not positive, not lasted long enough yet). */
  held: string[];
}

interface FieldReport {
  field: string;
  value: TargetValue;
}

/** The target's etcd syncer (`syncer_properties.etcd`), if it has one. */
function etcdSyncer(t: Target): Record<string, unknown> | undefined {
  const etcd = (t.syncer_properties as { etcd?: unknown } | undefined)?.etcd;
  return etcd && typeof etcd === 'object' && !Array.isArray(etcd) ? (etcd as Record<string, unknown>) : undefined;
}

/** Which reported values of a target go to which /monitoring field: those its etcd syncer maps. */
function reportsOf(t: Target): FieldReport[] {
  const values = t.values ?? [];
  return Object.entries(etcdSyncer(t) ?? {}).flatMap(([valueKey, spec]) => {
    const field = (spec as { key?: unknown } | null)?.key;
    const value = values.find((v) => v.key === valueKey);
    return valueKey !== 'hold_options' && typeof field === 'string' && value ? [{ field, value }] : [];
  });
}

/** Whether a status that is not positive must still be held back at `now`. */
function isHeld(t: Target, value: TargetValue, now: number): boolean {
  const hold = etcdSyncer(t)?.hold_options as { positive_status?: unknown; time_seconds?: unknown } | undefined;
  if (!hold || typeof hold.time_seconds !== 'number') return false;
  const positive = Array.isArray(hold.positive_status) ? hold.positive_status : [hold.positive_status];
  if (positive.some((p) => isDeepStrictEqual(p, value.value))) return false;
  const since = value.last_changed ? Date.parse(value.last_changed) : NaN;
  return Number.isNaN(since) || now - since < hold.time_seconds * 1000;
}

/**
 * Per resource, the merged statuses of its etcd-synced targets of the highest version (targets
 * without an etcd syncer are not looked at). No I/O and no clock
 * (`now` is given); the keys come from keys.ts, whose /monitoring prefix is a setting.
 */
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
    // Targets in a stable order (by id) so two targets naming one field always resolve the same way.
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

/**
 * Pure: the value to store for an update, given what is stored; undefined when there is nothing
 * to say yet. A held field keeps the stored status of the same version (if any).
 */
export function monitoringValue(u: MonitoringUpdate, stored: Record<string, unknown> | undefined): string | undefined {
  const fields = { ...u.fields };
  if (stored && stored.version === u.version)
    for (const f of u.held) if (f in stored && !(f in fields)) fields[f] = stored[f];
  const names = Object.keys(fields).sort();
  if (!names.length) return undefined;
  return pyDumps({ version: u.version, ...Object.fromEntries(names.map((n) => [n, fields[n]])) });
}

const parseStored = (text: string | undefined): Record<string, unknown> | undefined => {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

export async function syncMonitoring(
  store: Store,
  collector: CollectorClient,
  logger: Logger,
  now: () => number = Date.now,
): Promise<Record<GuardedWriteResult | 'held', number>> {
  const counts: Record<GuardedWriteResult | 'held', number> = { written: 0, unchanged: 0, older: 0, held: 0 };
  for (const u of monitoringUpdates(await collector.findTargets({}), now())) {
    const value = monitoringValue(u, parseStored((await store.get(u.key))?.value));
    if (value === undefined) {
      counts.held++;
      continue;
    }
    const result = await writeVersioned(store, u.key, u.version, value);
    counts[result]++;
    if (result === 'written')
      logger.info('monitoring status written', { resource_key: u.key, version: u.version, value });
  }
  return counts;
}
