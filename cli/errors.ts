/**
 * What `esi` prints when a command fails: one line that says what to check. gRPC and AWS SDK
 * errors are turned into words.
 */
import { errorMessage } from '../shared/errors';
import { awsSettings } from '../shared/config';

/** `14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED …. Resolution note: ` → the cause. */
function grpcReason(msg: string): string {
  const last = /Last error: (?:Error: )?(.*?)(?:\.? Resolution note|$)/s.exec(msg);
  return (last?.[1] ?? msg.replace(/^\d+ [A-Z_]+: /, '')).trim().replace(/\.$/, '');
}

export function cliErrorText(err: unknown): string {
  const msg = errorMessage(err);
  const name = err instanceof Error ? err.name : '';
  if (/^\d+ [A-Z_]+:/.test(msg) || /^GRPC/.test(name) || /EtcdLockFailed|No connection established/.test(msg)) {
    const where = process.env.ESI_ETCD_ENDPOINTS ?? '(ESI_ETCD_ENDPOINTS unset)';
    if (/UNAVAILABLE|DEADLINE_EXCEEDED|No connection established|ECONNREFUSED/i.test(msg))
      return `cannot reach etcd (${grpcReason(msg)}): is etcd running at ${where}? set ESI_ETCD_ENDPOINTS, or start the local stack with npm start`;
    return `etcd at ${where}: ${grpcReason(msg)}`;
  }
  if (/Could not load credentials|CredentialsProviderError/i.test(`${name} ${msg}`))
    return 'no AWS credentials for SQS: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or set ESI_SQS_ENDPOINT to a local SQS server (npm start records its own)';
  const sqs = awsSettings().sqsEndpoint;
  if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|socket hang up/.test(msg) && sqs)
    return `cannot reach SQS (${msg}): is the SQS server running at ${sqs}? set ESI_SQS_ENDPOINT, or start the local stack with npm start`;
  return msg;
}
