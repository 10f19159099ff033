/** The relay's message for one etcd event: key and revision, never the value (consumers re-read etcd). */
import { createHash } from 'node:crypto';

/** `modRevision`: the key's in this event (a delete's own); `sync`: re-emitted after a compacted start revision. */
export type EtcdEventMessage = { key: string; modRevision: number; type: 'put' | 'delete' | 'sync' };

/** JSON text SQS accepts: U+FFFE and U+FFFF (refused by SQS, left by JSON.stringify) written as escapes. */
export function sqsSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

export function encodeEventMessage(m: EtcdEventMessage): string {
  return sqsSafeJson({ key: m.key, modRevision: m.modRevision, type: m.type });
}

export class MalformedMessageError extends Error {
  override name = 'MalformedMessageError';
}

export function decodeEventMessage(body: string): EtcdEventMessage {
  let m: Partial<EtcdEventMessage> | null;
  try {
    m = JSON.parse(body) as Partial<EtcdEventMessage> | null;
  } catch {
    throw new MalformedMessageError(`message body is not JSON (${body.length} bytes)`);
  }
  if (typeof m?.key !== 'string' || typeof m.modRevision !== 'number' || !['put', 'delete', 'sync'].includes(m.type!))
    throw new MalformedMessageError('message body is not an etcd event message {key, modRevision, type}');
  return { key: m.key, modRevision: m.modRevision, type: m.type! };
}

/** FIFO deduplication id (docs/decisions.md "FIFO"): a re-emitted `sync` of an unchanged key has the put's id. */
export function deduplicationId(m: EtcdEventMessage): string {
  const kind = m.type === 'delete' ? 'delete' : 'put';
  return createHash('sha256').update(`${m.key}\n${m.modRevision}\n${kind}`).digest('hex');
}

/** What SQS accepts as a MessageGroupId or MessageDeduplicationId. */
const SQS_ID = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]{1,128}$/;
const SQS_ID_CHAR = /[^A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

/** One message group per etcd key, so its changes stay in order; a key SQS refuses is hashed (decisions.md "FIFO"). */
export function messageGroupId(m: EtcdEventMessage): string {
  if (SQS_ID.test(m.key)) return m.key;
  const hash = createHash('sha256').update(m.key).digest('hex').slice(0, 24);
  const readable = m.key.replace(SQS_ID_CHAR, '_');
  return `${hash}:${readable.slice(-(128 - hash.length - 1))}`;
}
