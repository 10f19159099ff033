/**
 * How `esi` finds the local stack without settings: `npm start` records its endpoints in its data
 * folder (`.esi-local/endpoints.json` at the repository root, or `$ESI_DATA_DIR/endpoints.json`)
 * while it runs, and each setting it names is used unless the environment sets it: explicit
 * settings always win. With no stack running and nothing set, the usual defaults apply.
 */
import { dataDirOf, readEndpoints } from '../infra/stack/endpoints';

/** Fills the unset settings from the running local stack's endpoints; returns the file used, if any. */
export function useLocalStackEndpoints(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dataDir = dataDirOf(env);
  const found = readEndpoints(dataDir);
  if (!found) return undefined;
  const defaults: Record<string, string> = {
    ESI_ETCD_ENDPOINTS: found.etcd,
    ESI_SQS_ENDPOINT: found.sqs,
    ESI_LAMBDA_ENDPOINT: found.lambda,
    ESI_STAGE: found.stage,
    AWS_REGION: found.region,
  };
  for (const [name, value] of Object.entries(defaults)) if (!env[name]) env[name] = value;
  return dataDir;
}
