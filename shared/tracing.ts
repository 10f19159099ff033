/**
 * X-Ray tracing (Powertools Tracer): the handler's segment (sqs/consumer.ts, scheduled.ts) and one
 * subsegment per call at each client boundary — etcd (store/default-store.ts), Keystone, Heat and
 * the collector (clients/http.ts). Traces only in Lambda with active tracing (the runtime sets
 * AWS_XRAY_DAEMON_ADDRESS); everywhere else (the local stack, tests, the relay) a no-op.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';

/** Tracing is on in Lambda with active tracing, unless POWERTOOLS_TRACE_ENABLED=false. */
export const tracingEnabled = (env: NodeJS.ProcessEnv = process.env): boolean =>
  Boolean(env.AWS_XRAY_DAEMON_ADDRESS) && env.POWERTOOLS_TRACE_ENABLED !== 'false';

let tracer: Tracer | undefined;

/** The process's tracer (HTTP calls are traced by `traced` at the clients, not by patching http). */
export function getTracer(): Tracer {
  tracer ??= new Tracer({ enabled: tracingEnabled(), captureHTTPsRequests: false });
  return tracer;
}

/** The middy middleware that opens the invocation's segment (no response captured: it may be large). */
export const tracingMiddleware = () => captureLambdaHandler(getTracer(), { captureResponse: false });

/** Runs fn in a subsegment named `name` when tracing is on (errors recorded on it); fn itself otherwise. */
export async function traced<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t = getTracer();
  if (!t.isTracingEnabled()) return fn();
  const sub = t.getSegment()?.addNewSubsegment(name);
  try {
    return await fn();
  } catch (err) {
    sub?.addError(err as Error);
    throw err;
  } finally {
    sub?.close();
  }
}
