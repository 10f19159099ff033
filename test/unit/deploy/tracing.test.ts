/** shared/tracing.ts: traces only in Lambda with active tracing; elsewhere the calls pass through unchanged. */
import { getTracer, traced, tracingEnabled } from '../../../shared/tracing';

test('tracing is on only where Lambda runs an X-Ray daemon, and can be turned off', () => {
  expect(tracingEnabled({})).toBe(false);
  expect(tracingEnabled({ AWS_XRAY_DAEMON_ADDRESS: '169.254.79.129:2000' })).toBe(true);
  expect(tracingEnabled({ AWS_XRAY_DAEMON_ADDRESS: '169.254.79.129:2000', POWERTOOLS_TRACE_ENABLED: 'false' })).toBe(
    false,
  );
});

test('locally (no daemon) a traced call is the call itself: its value, its error, no segment', async () => {
  expect(getTracer().isTracingEnabled()).toBe(false);
  await expect(traced('etcd', async () => 42)).resolves.toBe(42);
  const err = new Error('etcd unreachable');
  await expect(traced('heat', () => Promise.reject(err))).rejects.toBe(err);
  // A disabled tracer hands out a stand-in segment that records nothing.
  expect(getTracer().getSegment()?.subsegments ?? []).toEqual([]);
});
