// One structured logger for every function and the relay (Powertools, one JSON line per entry, secrets masked).
// Correlation fields: resource_key, resource_type, resource_id, version, job_id, handler, etcd_revision, attempt.
import { LogFormatter, LogItem, Logger } from '@aws-lambda-powertools/logger';
import { redact } from './redact';

type Attributes = Parameters<LogFormatter['formatAttributes']>;

/** Powertools' standard fields, then ours, every value passed through redact(). */
class RedactingFormatter extends LogFormatter {
  override formatAttributes(attributes: Attributes[0], additional: Attributes[1]): LogItem {
    return new LogItem({
      attributes: {
        level: attributes.logLevel,
        message: redact(attributes.message),
        timestamp: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        cold_start: attributes.lambdaContext?.coldStart,
        function_name: attributes.lambdaContext?.functionName,
        function_request_id: attributes.lambdaContext?.awsRequestId,
        sampling_rate: attributes.sampleRateValue,
        xray_trace_id: attributes.xRayTraceId,
      },
    }).addAttributes(redact(additional));
  }

  override formatError(error: Error) {
    return super.formatError(redact(error));
  }
}

export function createLogger(serviceName: string): Logger {
  return new Logger({
    serviceName,
    logLevel: (process.env.ESI_LOG_LEVEL ?? process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO') as 'INFO',
    logFormatter: new RedactingFormatter(),
  });
}

export type { Logger };
