/**
 * Starts the Keystone/Heat simulator and the monitoring collector simulator on loopback:
 *
 *   npx tsx infra/sim/main.ts
 *
 * Environment: ESI_SIM_HEAT_PORT (5000), ESI_SIM_COLLECTOR_PORT (7070), ESI_SIM_HEAT_LATENCY_MS
 * (300), ESI_SIM_HEAT_FIXTURES (outputs fixtures file), ESI_SIM_HEAT_FAULTS (fault rules file),
 * ESI_SIM_HEAT_MINUTE_MS (60000), ESI_SIM_COLLECTOR_AUTO_STATUS (UP; "none" disables),
 * ESI_SIM_COLLECTOR_AUTO_STATUS_DELAY_MS (1000), ESI_SIM_KEYSTONE_USER / _PASSWORD / _PROJECT
 * (override the simulator's credentials; see docs/simulators.md), ESI_SIM_LOG=1 (one line per request).
 * Also exports the start functions for tests and for the local-stack launcher.
 */
import { startCollectorSimulator } from './collector/server';
import { startHeatSimulator } from './heat/server';
import { definedOnly } from '../../shared/defined-only';

export { startHeatSimulator } from './heat/server';
export type { HeatSimulator, HeatSimulatorOptions } from './heat/server';
export { startCollectorSimulator } from './collector/server';
export type { CollectorSimulator, CollectorSimulatorOptions } from './collector/server';
export type { FaultSpec } from './heat/faults';

const int = (v: string | undefined, dflt: number): number => {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got ${v}`);
  return n;
};

async function main(): Promise<void> {
  const env = process.env;
  const log = env.ESI_SIM_LOG === '1' ? (l: string) => console.log(l) : undefined;
  const autoStatus = env.ESI_SIM_COLLECTOR_AUTO_STATUS ?? 'UP';
  const collector = await startCollectorSimulator(
    definedOnly({
      port: int(env.ESI_SIM_COLLECTOR_PORT, 7070),
      autoStatus: autoStatus === 'none' ? undefined : autoStatus,
      autoStatusDelayMs: int(env.ESI_SIM_COLLECTOR_AUTO_STATUS_DELAY_MS, 1000),
      log,
    }),
  );
  const heat = await startHeatSimulator(
    definedOnly({
      port: int(env.ESI_SIM_HEAT_PORT, 5000),
      latencyMs: int(env.ESI_SIM_HEAT_LATENCY_MS, 300),
      minuteMs: int(env.ESI_SIM_HEAT_MINUTE_MS, 60_000),
      fixtures: env.ESI_SIM_HEAT_FIXTURES || undefined,
      faults: env.ESI_SIM_HEAT_FAULTS || undefined,
      // Stack MonitoringTargets land in the collector simulator, as the Heat plugin did for real.
      collectorUrl: collector.url,
      credentials: {
        ...(env.ESI_SIM_KEYSTONE_USER ? { username: env.ESI_SIM_KEYSTONE_USER } : {}),
        ...(env.ESI_SIM_KEYSTONE_PASSWORD ? { password: env.ESI_SIM_KEYSTONE_PASSWORD } : {}),
        ...(env.ESI_SIM_KEYSTONE_PROJECT ? { projectName: env.ESI_SIM_KEYSTONE_PROJECT } : {}),
      },
      log,
    }),
  );
  // The user name is printed so a developer can configure a client; the password is not.
  console.log(
    `Keystone v3  ${heat.keystoneUrl}  (user ${heat.credentials.username}, project ${heat.credentials.projectName} / ${heat.credentials.projectId})`,
  );
  console.log(`Heat v1      ${heat.heatUrl}`);
  console.log(`collector    ${collector.url}`);
  console.log('control      /_sim/ on both; Ctrl-C stops');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping simulators`);
    Promise.all([heat.stop(), collector.stop()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`simulators failed to start: ${(err as Error).message}`);
    process.exit(1);
  });
}
