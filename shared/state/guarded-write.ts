/**
 * Writes Gohan's result keys (/state, /monitoring) so that they never move backwards: a value for
 * version N is not written over a value of a newer version, and a value equal to what is stored is
 * not written again (no etcd event for a change that did not happen). The write is fenced on what
 * was read, so two writers racing cannot both win; the loser re-reads and decides again.
 */
import { pyDumps } from '../encoding/pyjson';
import { versionOf } from '../gohan/config-value';
import { put, unchangedSince, type Compare, type KeyValue, type Op, type Store } from '../store/store';
import { encodeState, StateValue } from './state-value';

export type GuardedWriteResult = 'written' | 'unchanged' | 'older';

const MAX_ROUNDS = 5;

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
export async function writeVersioned(
  store: Store,
  key: string,
  version: number,
  value: string,
): Promise<GuardedWriteResult> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const decision = versionedPut(key, await store.get(key), version, value);
    if (decision.result !== 'written') return decision.result;
    const res = await store
      .txn()
      .when(...decision.compares)
      .then(...decision.ops)
      .commit();
    if (res.succeeded) return 'written';
  }
  throw new Error(`${key} kept changing while a version ${version} value was being written`);
}

export function writeState(store: Store, key: string, state: StateValue): Promise<GuardedWriteResult> {
  if (state.version === null) throw new Error('a state without a version cannot be version-guarded');
  return writeVersioned(store, key, state.version, encodeState(state));
}

/** /monitoring/<path> = {"version": N, "<field_name>": <status>} as the collector's syncer wrote it. */
export function encodeMonitoring(version: number, fieldName: string, status: unknown): string {
  return pyDumps({ version, [fieldName]: status });
}

export function writeMonitoring(
  store: Store,
  key: string,
  version: number,
  fieldName: string,
  status: unknown,
): Promise<GuardedWriteResult> {
  return writeVersioned(store, key, version, encodeMonitoring(version, fieldName, status));
}
