/** Whole-prefix reads in pages (read-many.ts rangePages), reduced as they arrive. */
import { rangePages } from './read-many';
import type { KeyValue, Store } from './store';

export interface PageOptions {
  pageSize?: number;
  /** Read every page at this revision: one consistent snapshot. */
  revision?: number;
}

/** Every key under prefix, read in pages, reduced to what `keep` returns (undefined = dropped). */
export async function collectPages<T>(
  store: Pick<Store, 'range'>,
  prefix: string,
  keep: (kv: KeyValue) => T | undefined,
  opts: PageOptions = {},
): Promise<T[]> {
  const out: T[] = [];
  for await (const page of rangePages(store, prefix, opts)) {
    for (const kv of page) {
      const v = keep(kv);
      if (v !== undefined) out.push(v);
    }
  }
  return out;
}
