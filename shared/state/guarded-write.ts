/**
 * Writes Gohan's result keys (/state, /monitoring) so that they never move backwards: a value for
 * version N is not written over a value of a newer version, and a value equal to what is stored is
 * not written again (no etcd event for a change that did not happen). The write is fenced on what
 * was read, so two writers racing cannot both win; the loser re-reads and decides again.
 */
import { versionOf } from '../gohan/config-value';
import { commitDecision, converge } from '../store/converge';
import { put, unchangedSince, type Compare, type KeyValue, type Op, type Store } from '../store/store';

export type GuardedWriteResult = 'written' | 'unchanged' | 'older';

/**
 * What writing `value` for `version` over `current` means: nothing (equal, or a newer version is
 * stored) or a put fenced on `current` — for callers that add it to a larger transaction.
 */
export function versionedPut(
  key: string,
  current: KeyValue | undefined,
  version: number,
  value: string,
): { result: GuardedWriteResult; compares: Compare[]; ops: Op[] } {
  if (current?.value === value) return { result: 'unchanged', compares: [], ops: [] };
  const stored = current ? versionOf(current.value) : undefined;
  if (stored !== undefined && stored > version) return { result: 'older', compares: [], ops: [] };
  return { result: 'written', compares: [unchangedSince(key, current)], ops: [put(key, value)] };
}

/** Writes `value` (already encoded) at key unless a newer version is stored there. */
export function writeVersioned(store: Store, key: string, version: number, value: string): Promise<GuardedWriteResult> {
  return converge(`${key} (writing version ${version})`, async () => {
    const d = versionedPut(key, await store.get(key), version, value);
    return commitDecision(store, { result: d.result, when: d.compares, then: d.ops });
  });
}
