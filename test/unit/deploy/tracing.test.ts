/** shared/tracing.ts: traces only in Lambda with active tracing; elsewhere the calls pass through unchanged. */
import { getTracer, traced, tracingEnabled, tracingMiddleware } from '../../../shared/tracing';

test('tracing is on only where Lambda runs an X-Ray daemon, and can be turned off', () => {
  expect(tracingEnabled({})).toBe(false);
  expect(tracingEnabled({ AWS_XRAY_DAEMON_ADDRESS: '169.254.79.129:2000' })).toBe(true);
  expect(tracingEnabled({ AWS_XRAY_DAEMON_ADDRESS: '169.254.79.129:2000', POWERTOOLS_TRACE_ENABLED: 'false' })).toBe(
    false,
  );
});

test('locally (no daemon) no tracer is loaded, no middleware added, and a traced call is the call itself', async () => {
  expect(getTracer()).toBeUndefined();
  expect(tracingMiddleware()).toEqual([]);
  await expect(traced('etcd', async () => 42)).resolves.toBe(42);
  const err = new Error('etcd unreachable');
  await expect(traced('heat', () => Promise.reject(err))).rejects.toBe(err);
});

test('in Lambda with active tracing the Powertools Tracer is loaded, enabled, and the middleware wraps it', async () => {
  const saved = { ...process.env };
  // What the Lambda runtime sets (the Tracer also traces only inside Lambda).
  Object.assign(process.env, { AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1:2000', AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' });
  try {
    const tracer = await getTracer();
    expect(tracer?.isTracingEnabled()).toBe(true);
    expect(tracingMiddleware().map((m) => Object.keys(m).sort())).toEqual([['after', 'before', 'onError']]);
  } finally {
    for (const k of ['AWS_XRAY_DAEMON_ADDRESS', 'AWS_EXECUTION_ENV']) delete process.env[k];
    Object.assign(process.env, saved);
  }
});
