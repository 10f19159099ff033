// X-Ray tracing: the handler's segment and a subsegment per client call, only in Lambda with active tracing.
// The Tracer loads only then: its async hook costs about a sixth of the CPU otherwise (docs/benchmarks.md).
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { MiddlewareObj, Request } from '@middy/core';

export const tracingEnabled = (env: NodeJS.ProcessEnv = process.env): boolean =>
  Boolean(env.AWS_XRAY_DAEMON_ADDRESS) && env.POWERTOOLS_TRACE_ENABLED !== 'false';

let tracer: Promise<Tracer> | undefined;

/** The process's tracer, or undefined where tracing is off (HTTP is traced by `traced`, not by patching http). */
export function getTracer(): Promise<Tracer> | undefined {
  if (!tracingEnabled()) return undefined;
  tracer ??= import('@aws-lambda-powertools/tracer').then(
    ({ Tracer }) => new Tracer({ enabled: true, captureHTTPsRequests: false }),
  );
  return tracer;
}

/** The middleware opening the invocation's segment (no response captured: it may be large); none when off. */
export function tracingMiddleware(): MiddlewareObj[] {
  const pending = getTracer();
  if (!pending) return [];
  let inner: Promise<MiddlewareObj> | undefined;
  const hook = (name: 'before' | 'after' | 'onError') => async (request: Request) => {
    inner ??= Promise.all([pending, import('@aws-lambda-powertools/tracer/middleware')]).then(
      ([t, m]) => m.captureLambdaHandler(t, { captureResponse: false }) as MiddlewareObj,
    );
    await (await inner)[name]?.(request);
  };
  return [{ before: hook('before'), after: hook('after'), onError: hook('onError') }];
}

/** Runs fn in a subsegment named `name` when tracing is on (errors recorded on it); fn itself otherwise. */
export async function traced<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const pending = getTracer();
  if (!pending) return fn();
  const sub = (await pending).getSegment()?.addNewSubsegment(name);
  try {
    return await fn();
  } catch (err) {
    sub?.addError(err as Error);
    throw err;
  } finally {
    sub?.close();
  }
}
