/**
 * Writes Gohan's result keys (/state, /monitoring) so that they never move backwards: a value for
 * version N is not written over a value of a newer version, and a value equal to what is stored is
 * not written again (no etcd event for a change that did not happen). The write is fenced on what
 * was read, so two writers racing cannot both win; the loser re-reads and decides again.
 */
import { pyDumps } from '../encoding/pyjson';
import { put, Store, unchangedSince } from '../store/store';
import { encodeState, StateValue } from './state-value';

export type GuardedWriteResult = 'written' | 'unchanged' | 'older';

const MAX_ROUNDS = 5;

/** Writes `value` (already encoded) at key unless a newer version is stored there. */
export async function writeVersioned(store: Store, key: string, version: number, value: string): Promise<GuardedWriteResult> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const current = await store.get(key);
    if (current?.value === value) return 'unchanged';
    const stored = current ? storedVersion(current.value) : undefined;
    if (stored !== undefined && stored > version) return 'older';
    const res = await store.txn().when(unchangedSince(key, current)).then(put(key, value)).commit();
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

export function writeMonitoring(store: Store, key: string, version: number, fieldName: string, status: unknown): Promise<GuardedWriteResult> {
  return writeVersioned(store, key, version, encodeMonitoring(version, fieldName, status));
}

function storedVersion(raw: string): number | undefined {
  try {
    const v = (JSON.parse(raw) as { version?: unknown }).version;
    return typeof v === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}
