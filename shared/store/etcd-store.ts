/**
 * The etcd3 adapter behind the Store interface. Fault handling follows what was measured on
 * etcd 3.4 (see docs/decisions.md): a per-host breaker that half-opens after 500 ms and a global
 * retry with exponential backoff, so a restarted etcd is usable again within a fraction of a second.
 */
import { Etcd3, IOptions, isRecoverableError, IWatchResponse } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { EtcdSettings, etcdSettings } from '../config';
import { CompactedError } from './store';
import type { Compare, KeyValue, Lease, Op, RangeResult, Store, TxnBuilder, TxnResult, WatchEvent, WatchHandle, WatchHandlers } from './store';

const compareOps = { '==': 'Equal', '<': 'Less', '>': 'Greater', '!=': 'NotEqual' } as const;

function toKeyValue(kv: { key: Buffer; value: Buffer; mod_revision: string; create_revision: string; version: string; lease: string }): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    version: Number(kv.version),
    lease: kv.lease && kv.lease !== '0' ? kv.lease : undefined,
  };
}

/** The end of the key range that covers every key starting with prefix. */
function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i] += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export function etcdClientOptions(settings: EtcdSettings = etcdSettings()): IOptions {
  return {
    hosts: settings.endpoints,
    credentials: settings.tls ? { rootCertificate: settings.tls.ca, certChain: settings.tls.cert, privateKey: settings.tls.key } : undefined,
    auth: settings.auth,
    faultHandling: {
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 500, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 6, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 2000 }) }),
    },
  };
}

export class EtcdStore implements Store {
  readonly client: Etcd3;

  constructor(settings: EtcdSettings = etcdSettings()) {
    this.client = new Etcd3(etcdClientOptions(settings));
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.client.kv.range({ key: Buffer.from(key) });
    return res.kvs.length ? toKeyValue(res.kvs[0]) : undefined;
  }

  async range(prefix: string, opts: { limit?: number } = {}): Promise<RangeResult> {
    const res = await this.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), limit: opts.limit });
    return { items: res.kvs.map(toKeyValue), revision: Number(res.header.revision) };
  }

  async revision(): Promise<number> {
    const res = await this.client.kv.range({ key: Buffer.from('\0'), count_only: true });
    return Number(res.header.revision);
  }

  txn(): TxnBuilder {
    const compares: Compare[] = [];
    const success: Op[] = [];
    const failure: Op[] = [];
    const client = this.client;
    const builder: TxnBuilder = {
      when: (...c) => { compares.push(...c); return builder; },
      then: (...o) => { success.push(...o); return builder; },
      otherwise: (...o) => { failure.push(...o); return builder; },
      async commit(): Promise<TxnResult> {
        const res = await client.kv.txn({
          compare: compares.map(toEtcdCompare),
          success: success.map(toEtcdOp),
          failure: failure.map(toEtcdOp),
        });
        const reads = res.responses
          .filter((r) => r.response_range)
          .map((r) => (r.response_range.kvs.length ? toKeyValue(r.response_range.kvs[0]) : undefined));
        return { succeeded: res.succeeded, revision: Number(res.header.revision), reads };
      },
    };
    return builder;
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle> {
    // etcd 3.4 cancels a watch on a compacted revision after it was created, with no reason the
    // client exposes; a read at that revision tells compaction apart before watching.
    try {
      await this.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), revision: fromRevision, count_only: true });
    } catch (err) {
      const msg = String((err as Error).message);
      if (/compacted/i.test(msg)) throw new CompactedError(`watch of ${prefix} from revision ${fromRevision}: ${msg}`);
      if (!/future revision/i.test(msg)) throw err;
    }
    let watcher;
    try {
      watcher = await this.client.watch().prefix(prefix).startRevision(String(fromRevision)).create();
    } catch (err) {
      if (/compacted/i.test(String((err as Error).message))) throw new CompactedError(`watch of ${prefix} from revision ${fromRevision}: ${(err as Error).message}`);
      throw err;
    }
    let cancelled = false;
    // The client would resume on its own after a disconnect, from a point it moves before our
    // handler has finished with the events; callers re-create the watch from their own checkpoint.
    watcher.on('disconnected', (err: Error) => {
      if (!cancelled) handlers.onError(err ?? new Error('watch stream disconnected'), { compacted: false });
    });
    watcher.on('data', (res: IWatchResponse) => {
      const events: WatchEvent[] = res.events.map((ev) => ({
        type: ev.type === 'Delete' ? 'delete' : 'put',
        key: ev.kv.key.toString(),
        value: ev.kv.value.toString(),
        modRevision: Number(ev.kv.mod_revision),
      }));
      if (events.length) handlers.onEvents(events);
    });
    watcher.on('error', (err: Error) => {
      if (cancelled) return;
      handlers.onError(err, { compacted: /compacted/i.test(err.message) });
    });
    return {
      async cancel() {
        cancelled = true;
        await watcher.cancel();
      },
    };
  }

  async grantLease(ttlSeconds: number, opts: { keepAlive?: boolean } = {}): Promise<Lease> {
    const lease = this.client.lease(ttlSeconds, { autoKeepAlive: opts.keepAlive ?? false });
    const id = await lease.grant();
    return { id, revoke: () => lease.revoke() };
  }

  close(): void {
    this.client.close();
  }
}

function toEtcdCompare(c: Compare) {
  const base = { key: Buffer.from(c.key), result: compareOps[c.op] };
  switch (c.kind) {
    case 'modRevision': return { ...base, target: 'Mod' as const, mod_revision: c.revision };
    case 'createRevision': return { ...base, target: 'Create' as const, create_revision: c.revision };
    case 'value': return { ...base, target: 'Value' as const, value: Buffer.from(c.value) };
  }
}

function toEtcdOp(op: Op) {
  switch (op.kind) {
    case 'put': return { request_put: { key: Buffer.from(op.key), value: Buffer.from(op.value), lease: op.lease } };
    case 'delete': return { request_delete_range: { key: Buffer.from(op.key) } };
    case 'deletePrefix': return { request_delete_range: { key: Buffer.from(op.prefix), range_end: prefixEnd(op.prefix) } };
    case 'get': return { request_range: { key: Buffer.from(op.key) } };
  }
}
