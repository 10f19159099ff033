// Gohan's result keys (/state, /monitoring) never move backwards: not over a newer version, not again when equal
// (no etcd event for no change); each write is fenced on what was read.
import { versionOf } from '../gohan/config-value';
import { commitDecision, converge } from '../store/converge';
import { put, unchangedSince, type Compare, type KeyValue, type Op, type Store } from '../store/store';

export type GuardedWriteResult = 'written' | 'unchanged' | 'older';

type VersionedPut = { result: GuardedWriteResult; compares: Compare[]; ops: Op[] };

/** Writing `value` for `version` over `current`: nothing, or a put fenced on `current`. */
export function versionedPut(key: string, current: KeyValue | undefined, version: number, value: string): VersionedPut {
  if (current?.value === value) return { result: 'unchanged', compares: [], ops: [] };
  const stored = current ? versionOf(current.value) : undefined;
  if (stored !== undefined && stored > version) return { result: 'older', compares: [], ops: [] };
  return { result: 'written', compares: [unchangedSince(key, current)], ops: [put(key, value)] };
}

export function writeVersioned(store: Store, key: string, version: number, value: string): Promise<GuardedWriteResult> {
  return converge(`${key} (writing version ${version})`, async () => {
    const d = versionedPut(key, await store.get(key), version, value);
    return commitDecision(store, { result: d.result, when: d.compares, then: d.ops });
  });
}
