/**
 * Which stack `esi` talks to, chosen once and as a whole, so local and remote settings never mix:
 *
 * - `--endpoints` or `--stage` on the command line, or ESI_ETCD_ENDPOINTS in the environment: that
 *   stack, with the environment's settings only. The local stack's endpoints file is not read (a
 *   prod etcd never meets the local SQS server).
 * - Otherwise the local stack `npm start` runs (cli/local-stack.ts): all of its endpoints.
 * - Otherwise nothing is targeted; a command that needs etcd says ESI_ETCD_ENDPOINTS is not set.
 *
 * Secrets named by `*_PARAM` (e.g. ESI_ETCD_PASSWORD_PARAM=/esi/prod/etcd-password) are read from
 * SSM before a command runs (shared/secrets.ts), so no password needs exporting into the shell.
 */
import { useLocalStackEndpoints } from './local-stack';

export interface TargetFlags {
  stage?: string;
  endpoints?: string;
}

/** Sets the environment for the chosen stack; returns the line that says which it is. */
export function chooseTarget(flags: TargetFlags, env: NodeJS.ProcessEnv = process.env): string {
  if (flags.endpoints) env.ESI_ETCD_ENDPOINTS = flags.endpoints;
  if (flags.stage) env.ESI_STAGE = flags.stage;
  const remote = Boolean(flags.endpoints || flags.stage || env.ESI_ETCD_ENDPOINTS);
  const local = remote ? undefined : useLocalStackEndpoints(env);
  const etcd = env.ESI_ETCD_ENDPOINTS ?? '(ESI_ETCD_ENDPOINTS not set)';
  const sqs = env.ESI_SQS_ENDPOINT ?? `AWS ${env.AWS_REGION ?? 'us-east-1'}`;
  const stage = env.ESI_STAGE ?? 'dev';
  return local
    ? `local stack (${local}): etcd ${etcd}, SQS ${sqs}, stage ${stage}`
    : `stage ${stage}: etcd ${etcd}, SQS ${sqs}`;
}
