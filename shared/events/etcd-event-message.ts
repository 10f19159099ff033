/**
 * What the relay puts on a queue for one etcd event. A message names the key and the revision of
 * the change; it never carries the value: consumers re-read etcd and converge to what is there now
 * (level-triggered), so duplicates and reordering do no harm.
 */
import { createHash } from 'node:crypto';

export interface EtcdEventMessage {
  key: string;
  /** The key's mod_revision in this event (for a delete, the revision of the delete). */
  modRevision: number;
  /** `sync`: re-emitted by the relay after its start revision was compacted away. */
  type: 'put' | 'delete' | 'sync';
}

export function encodeEventMessage(m: EtcdEventMessage): string {
  return JSON.stringify({ key: m.key, modRevision: m.modRevision, type: m.type });
}

export class MalformedMessageError extends Error {
  override name = 'MalformedMessageError';
}

export function decodeEventMessage(body: string): EtcdEventMessage {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new MalformedMessageError(`message body is not JSON (${body.length} bytes)`);
  }
  const m = doc as Partial<EtcdEventMessage>;
  if (
    !m ||
    typeof m.key !== 'string' ||
    typeof m.modRevision !== 'number' ||
    !['put', 'delete', 'sync'].includes(m.type as string)
  ) {
    throw new MalformedMessageError('message body is not an etcd event message {key, modRevision, type}');
  }
  return { key: m.key, modRevision: m.modRevision, type: m.type as EtcdEventMessage['type'] };
}

/**
 * FIFO deduplication id: the same change sent twice (a relay restarted before its checkpoint
 * moved) is dropped by SQS within its 5-minute window. A re-emitted `sync` of an unchanged key
 * has the same id as the original put.
 */
export function deduplicationId(m: EtcdEventMessage): string {
  const kind = m.type === 'delete' ? 'delete' : 'put';
  return createHash('sha256').update(`${m.key}\n${m.modRevision}\n${kind}`).digest('hex');
}

/** FIFO message group: one per etcd key, so changes of one key arrive in order. */
export function messageGroupId(m: EtcdEventMessage): string {
  // Group ids allow at most 128 characters; long keys are hashed.
  return m.key.length <= 128 ? m.key : createHash('sha256').update(m.key).digest('hex');
}
