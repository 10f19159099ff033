/** The etcd3 adapter behind Store; its fault handling was measured on etcd 3.4 (docs/decisions.md). */
import { errorMessage } from '../errors';
import { Etcd3, type IKeyValue, type IOptions, isRecoverableError, type IWatchResponse, Range } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { type EtcdSettings, etcdSettings } from '../config';
import { collectTxn, CompactedError } from './store';
import type { Compare, KeyValue, Lease, Op, RangeOptions, RangeResult, Store, TxnBuilder } from './store';
import type { WatchEvent, WatchHandle, WatchHandlers } from './store';
import { definedOnly } from '../defined-only';

const compareOps = { '==': 'Equal', '<': 'Less', '>': 'Greater', '!=': 'NotEqual' } as const;

const toKeyValue = (kv: IKeyValue): KeyValue => ({
  key: kv.key.toString(),
  value: kv.value.toString(),
  modRevision: Number(kv.mod_revision),
  createRevision: Number(kv.create_revision),
  version: Number(kv.version),
  ...(kv.lease && kv.lease !== '0' ? { lease: kv.lease } : {}),
});

const prefixEnd = (prefix: string): Buffer => Range.prefix(prefix).end;

const rangeRequest = (prefix: string, opts: RangeOptions) =>
  definedOnly({
    key: Buffer.from(opts.from ?? prefix),
    range_end: prefixEnd(prefix),
    limit: opts.limit,
    keys_only: opts.keysOnly,
    revision: opts.revision,
  });

/** Refused for its size (by etcd or past the send limit): never retried nor counted against the host's breaker. */
export function isRequestTooLarge(err: unknown): boolean {
  const msg = errorMessage(err);
  return /request is too large|message larger than max|send message with a size larger than/i.test(msg);
}

/** Transport faults, not refusals, are retried and count against a host (etcd3: RESOURCE_EXHAUSTED recoverable). */
const transient = (err: Error): boolean => isRecoverableError(err) && !isRequestTooLarge(err);

export function etcdClientOptions(settings: EtcdSettings = etcdSettings()): IOptions {
  const { tls, auth } = settings;
  return {
    hosts: settings.endpoints,
    grpcOptions: {
      // Message limits (docs/operations.md, "etcd message limits"): sends just above etcd's --max-request-bytes.
      'grpc.max_receive_message_length': 32 * 1024 * 1024,
      'grpc.max_send_message_length': 2 * 1024 * 1024,
      // A half-open connection is found within 15 s while a call or watch is open (above etcd's
      // --grpc-keepalive-min-time). No pings without calls: etcd refuses them and Lambdas sleep idle.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
    },
    ...(tls ? { credentials: definedOnly({ rootCertificate: tls.ca, certChain: tls.cert, privateKey: tls.key }) } : {}),
    ...(auth ? { auth } : {}),
    faultHandling: {
      host: () => circuitBreaker(handleWhen(transient), { halfOpenAfter: 500, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(transient), {
        maxAttempts: 6,
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 2000 }),
      }),
    },
  };
}

export type EtcdAccessProblem =
  'server-certificate' | 'client-certificate' | 'authentication' | 'no-credentials' | 'permission';

/** An etcd TLS or authentication failure, naming the setting to check (never the password); `cause` kept. */
export class EtcdAccessError extends Error {
  override name = 'EtcdAccessError';
  readonly problem: EtcdAccessProblem;
  constructor(message: string, problem: EtcdAccessProblem, cause: unknown) {
    super(message, { cause });
    this.problem = problem;
  }
}

/** The part of a gRPC "No connection established" message that says what went wrong. */
function tlsReason(msg: string): string {
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(msg);
  if (alert?.[1] !== undefined) return `TLS alert: ${alert[1].trim()}`;
  const last = /Last error: (?:Error: )?(.*?)(?:\.? Resolution note|\s\(\d{4}-\d\d-\d\dT|$)/s.exec(msg);
  return (last?.[1] ?? msg).trim().replace(/\.$/, '');
}

const CLIENT_CERT_REFUSED =
  /alert (bad certificate|certificate required|unknown ca|certificate unknown|unsupported certificate|certificate expired|access denied)/i;
const SERVER_CERT_REFUSED =
  /unable to verify|self[- ]signed certificate|unable to get (local )?issuer|certificate has expired|certificate is not yet valid|does not match certificate|altnames|ERR_TLS_CERT|CERT_/i;

/** A TLS or authentication failure as an EtcdAccessError that says what to check; undefined for other errors. */
export function describeEtcdError(
  err: unknown,
  settings: Pick<EtcdSettings, 'endpoints' | 'tls' | 'auth'> = etcdSettings(),
): EtcdAccessError | undefined {
  if (err instanceof EtcdAccessError) return err;
  const raw = errorMessage(err);
  const name = err instanceof Error ? err.constructor.name : '';
  const where = `etcd at ${settings.endpoints.join(',')}`;
  const user = settings.auth?.username ?? '';
  let problem: EtcdAccessProblem;
  let message: string;
  if (CLIENT_CERT_REFUSED.test(raw)) {
    problem = 'client-certificate';
    message =
      `${where} rejected the client certificate (${tlsReason(raw)}): ` +
      (settings.tls?.cert
        ? 'check that ESI_ETCD_CERT and ESI_ETCD_KEY are a certificate and key signed by a CA etcd trusts (--trusted-ca-file)'
        : 'etcd requires one; set ESI_ETCD_CERT and ESI_ETCD_KEY');
  } else if (SERVER_CERT_REFUSED.test(raw)) {
    problem = 'server-certificate';
    message =
      `${where}: the server's TLS certificate was not accepted (${tlsReason(raw)}): ` +
      (settings.tls
        ? "check that ESI_ETCD_CA holds the CA that signed etcd's certificate and that the certificate names the host in ESI_ETCD_ENDPOINTS"
        : "ESI_ETCD_CA is not set; set it to the CA that signed etcd's certificate");
  } else if (
    name === 'EtcdAuthenticationFailedError' ||
    /authentication failed|invalid user ID or password/i.test(raw)
  ) {
    problem = 'authentication';
    message = `${where}: authentication failed for user "${user}" (invalid user name or password): check ESI_ETCD_USERNAME and ESI_ETCD_PASSWORD`;
  } else if (/user name is empty|token is not provided/i.test(raw)) {
    problem = 'no-credentials';
    message = `${where} requires authentication and no user is set: set ESI_ETCD_USERNAME and ESI_ETCD_PASSWORD`;
  } else if (name === 'EtcdPermissionDeniedError' || /permission denied/i.test(raw)) {
    problem = 'permission';
    message = `${where}: permission denied for user "${user}": grant its etcd role read/write on the keys the system uses`;
  } else return undefined;
  // The password never appears in these texts; a user name could equal it, so mask it anyway.
  const password = settings.auth?.password;
  return new EtcdAccessError(password ? message.split(password).join('***') : message, problem, err);
}

export class EtcdStore implements Store {
  readonly client: Etcd3;

  constructor(private readonly settings: EtcdSettings = etcdSettings()) {
    this.client = new Etcd3(etcdClientOptions(settings));
  }

  private readonly rethrow = (err: unknown): never => {
    throw describeEtcdError(err, this.settings) ?? err;
  };

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.client.kv.range({ key: Buffer.from(key) }).catch(this.rethrow);
    return res.kvs[0] && toKeyValue(res.kvs[0]);
  }

  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResult> {
    const res = await this.client.kv.range(rangeRequest(prefix, opts)).catch(this.rethrow);
    return { items: res.kvs.map(toKeyValue), revision: Number(res.header.revision), more: res.more };
  }

  async revision(): Promise<number> {
    const res = await this.client.kv.range({ key: Buffer.from('\0'), count_only: true }).catch(this.rethrow);
    return Number(res.header.revision);
  }

  txn(): TxnBuilder {
    return collectTxn(async (parts) => {
      const res = await this.client.kv
        .txn({
          compare: parts.when.map(toEtcdCompare),
          success: parts.then.map(toEtcdOp),
          failure: parts.otherwise.map(toEtcdOp),
        })
        .catch(this.rethrow);
      const ops = res.succeeded ? parts.then : parts.otherwise;
      const revision = Number(res.header.revision);
      const reads: (KeyValue | undefined)[] = [];
      const ranges: RangeResult[] = [];
      res.responses.forEach((r, i) => {
        const range = r.response_range;
        const kind = ops[i]!.kind; // etcd answers each op of the branch taken, in order
        if (kind === 'get') reads.push(range.kvs[0] ? toKeyValue(range.kvs[0]) : undefined);
        else if (kind === 'range') ranges.push({ items: range.kvs.map(toKeyValue), revision, more: range.more });
      });
      return { succeeded: res.succeeded, revision, reads, ranges };
    });
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle> {
    const fail = (err: unknown): never => {
      const msg = errorMessage(err);
      if (/compacted/i.test(msg))
        throw new CompactedError(`watch of ${prefix} from revision ${fromRevision}: ${msg}`, { cause: err });
      throw describeEtcdError(err, this.settings) ?? err;
    };
    // etcd 3.4 cancels a watch on a compacted revision after creating it, with no reason the client
    // exposes; a read at that revision tells compaction apart first.
    await this.client.kv
      .range({ ...rangeRequest(prefix, { revision: fromRevision }), count_only: true })
      .catch((err: unknown) => /future revision/i.test(errorMessage(err)) || fail(err));
    const watcher = await this.client.watch().prefix(prefix).startRevision(String(fromRevision)).create().catch(fail);
    let cancelled = false;
    // The client would resume by itself after a disconnect, from a point it moves before our handler
    // is done with the events; callers re-create the watch from their own checkpoint instead.
    watcher.on('disconnected', (err: Error) => {
      if (!cancelled) handlers.onError(err ?? new Error('watch stream disconnected'), { compacted: false });
    });
    watcher.on('data', (res: IWatchResponse) => {
      const events = res.events.map((ev): WatchEvent => {
        const { key, value, modRevision } = toKeyValue(ev.kv);
        return { type: ev.type === 'Delete' ? 'delete' : 'put', key, value, modRevision };
      });
      if (events.length) handlers.onEvents(events);
      else if (!res.canceled) handlers.onProgress?.(Number(res.header.revision));
    });
    watcher.on('error', (err: Error) => {
      if (cancelled) return;
      handlers.onError(describeEtcdError(err, this.settings) ?? err, { compacted: /compacted/i.test(err.message) });
    });
    return {
      async cancel() {
        cancelled = true;
        await watcher.cancel();
      },
    };
  }

  async grantLease(ttlSeconds: number, opts: { keepAlive?: boolean } = {}): Promise<Lease> {
    const lease = this.client.lease(ttlSeconds, { autoKeepAlive: false });
    const id = await lease.grant().catch(this.rethrow);
    // Renewed every third of the TTL, the first time then: etcd3's own keep-alive renews at once
    // and, let go while a renewal is answered, leaves a TTL-long timer behind.
    // A failed renewal is tried again at the next tick, unless etcd said the lease is gone (it is then revoked()).
    const renew = () => lease.keepaliveOnce().catch(() => lease.revoked() && clearInterval(timer));
    const timer = opts.keepAlive ? setInterval(() => void renew(), (ttlSeconds * 1000) / 3).unref() : undefined;
    const stop = () => clearInterval(timer);
    return {
      id,
      revoke: () => (stop(), lease.revoke()),
      release: () => (stop(), lease.release()),
    };
  }

  close(): void {
    this.client.close();
  }
}

function toEtcdCompare(c: Compare) {
  const base = { key: Buffer.from(c.key), result: compareOps[c.op] };
  switch (c.kind) {
    case 'modRevision':
      return { ...base, target: 'Mod' as const, mod_revision: c.revision };
    case 'createRevision':
      return {
        ...base,
        target: 'Create' as const,
        create_revision: c.revision,
        ...(c.prefix ? { range_end: prefixEnd(c.key) } : {}),
      };
    case 'value':
      return { ...base, target: 'Value' as const, value: Buffer.from(c.value) };
  }
}

function toEtcdOp(op: Op) {
  switch (op.kind) {
    case 'put':
      return { request_put: definedOnly({ key: Buffer.from(op.key), value: Buffer.from(op.value), lease: op.lease }) };
    case 'delete':
      return { request_delete_range: { key: Buffer.from(op.key) } };
    case 'deletePrefix':
      return { request_delete_range: { key: Buffer.from(op.prefix), range_end: prefixEnd(op.prefix) } };
    case 'get':
      return { request_range: definedOnly({ key: Buffer.from(op.key), keys_only: op.keysOnly }) };
    case 'range':
      return { request_range: rangeRequest(op.prefix, op) };
  }
}
