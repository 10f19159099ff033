/**
 * The wiring of a scheduled function (EventBridge in AWS, the local scheduler locally): the
 * logger's Lambda context and the secrets loaded before the first run, as the SQS consumers have
 * them (sqs/consumer.ts). The entry point gives only what one run does.
 */
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
