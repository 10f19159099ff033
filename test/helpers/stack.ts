import fs from 'node:fs';
import path from 'node:path';
import { freeStackPorts, RunningStack, SimulatorOptions, startStack } from '../../infra/stack/stack';

/** The whole local stack on free ports, with its own data folder under the test run's root. */
export async function startTestStack(
  name: string,
  env: Record<string, string> = {},
  simulators: SimulatorOptions = {},
): Promise<RunningStack> {
  const dataDir = path.join(process.env.ESI_TEST_ROOT ?? fs.mkdtempSync('/tmp/esi-e2e-'), `stack-${name}`);
  return startStack({
    dataDir,
    stage: name,
    ports: await freeStackPorts(),
    env: { ESI_LOG_LEVEL: 'INFO', ...env },
    simulators,
  });
}
