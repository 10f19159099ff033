import type { Relay } from '../../shared/relay/relay';
import { emptyCounters, type StreamCounters } from '../../shared/relay/route-stream';

/** Highest revision up to which every event of every route was sent or passed over. */
export const relayPosition = (relay: Relay): number => Math.min(...relay.streams.map((s) => s.position));

/** Every route's counters summed, with the relay's checkpoint writes. */
export function relayCounters(relay: Relay): StreamCounters & { checkpointWrites: number } {
  const sum = { ...emptyCounters(), checkpointWrites: relay.checkpointWrites };
  for (const s of relay.streams)
    for (const k of Object.keys(s.counters) as (keyof StreamCounters)[]) sum[k] += s.counters[k];
  return sum;
}
