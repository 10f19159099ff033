/** A scheduled function's wiring, as the SQS consumers have it: Lambda context in the logger, tracing, secrets. */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger } from './log/logger';
import { loadSecrets } from './secrets';
import { tracingMiddleware } from './tracing';

export function scheduledHandler<R>(logger: Logger, run: () => Promise<R>) {
  return middy()
    .use(injectLambdaContext(logger))
    .use(tracingMiddleware())
    .before(() => loadSecrets().then(() => undefined))
    .handler(run);
}
