/**
 * The local stack: etcd, the SQS server, `serverless offline start` (functions + the local SQS
 * event source), the relay. Used by `npm start` and by the end-to-end tests, on any ports.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureEtcdInstalled, type EtcdServer, startEtcd, startEtcdCluster } from '../local/etcd-server';
import { startSqsServer, type LocalSqsServer } from '../local/sqs-server';
import { freePort } from '../local/ports';
import {
  hasExited,
  logOffset,
  type Spawned,
  spawnServer,
  Started,
  waitForLogLine,
  waitUntilReady,
  waitUntilServing,
} from '../local/processes';
import { relayReady, removeReadyFile } from '../../shared/relay/ready-file';
import { scheduleInvocations, type LocalSchedule } from './scheduler';
import type { RealOpenStack } from '../openstack/openstack';
import {
  type CollectorSimulator,
  type CollectorSimulatorOptions,
  type HeatSimulator,
  type HeatSimulatorOptions,
  startCollectorSimulator,
  startHeatSimulator,
} from '../sim/main';
import { definedOnly } from '../../shared/defined-only';

export interface StackPorts {
  etcd: number;
  etcdPeer: number;
  sqs: number;
  lambda: number;
  http: number;
  /** Keystone + Heat simulator. */
  heat: number;
  /** Monitoring collector simulator. */
  collector: number;
}

/** Each port of `npm start`, the variable that moves it, and its default. */
export const PORT_SETTINGS: Record<keyof StackPorts, { variable: string; fallback: number }> = {
  etcd: { variable: 'ESI_ETCD_PORT', fallback: 2379 },
  etcdPeer: { variable: 'ESI_ETCD_PEER_PORT', fallback: 2380 },
  sqs: { variable: 'ESI_SQS_PORT', fallback: 4566 },
  lambda: { variable: 'ESI_LAMBDA_PORT', fallback: 3002 },
  http: { variable: 'ESI_HTTP_PORT', fallback: 3000 },
  heat: { variable: 'ESI_SIM_HEAT_PORT', fallback: 5000 },
  collector: { variable: 'ESI_SIM_COLLECTOR_PORT', fallback: 7070 },
};

/** A free loopback port for every server of a stack, so several stacks (tests, the demo) never collide. */
export async function freeStackPorts(): Promise<StackPorts> {
  return {
    etcd: await freePort(),
    etcdPeer: await freePort(),
    sqs: await freePort(),
    lambda: await freePort(),
    http: await freePort(),
    heat: await freePort(),
    collector: await freePort(),
  };
}

export interface SimulatorOptions {
  /** Stack name → outputs (a JSON file or the object), so a replay yields recorded outputs. */
  heatFixtures?: HeatSimulatorOptions['fixtures'];
  heatLatencyMs?: number;
  /** Status every new monitoring target reports after a moment (as the collector's agents would). */
  collectorAutoStatus?: string;
  /** Statuses the collector reports for the targets they match instead (a replay of recorded /monitoring). */
  collectorStatuses?: CollectorSimulatorOptions['statuses'];
  /** The `last_changed` the collector reports with those statuses (settled ones: a time long past). */
  collectorStatusesSince?: string;
}

export interface StackOptions {
  ports: StackPorts;
  dataDir: string;
  stage?: string;
  /** Extra environment for the functions and the relay. */
  env?: Record<string, string>;
  log?: (line: string) => void;
  /** Where child process output goes (files under dataDir by default). */
  logDir?: string;
  simulators?: SimulatorOptions;
  /**
   * Where every process and server is recorded the moment it starts; a launcher that stops it
   * (Ctrl-C) while startStack is still running stops everything started so far.
   */
  started?: Started;
  /** etcd members (default 1); 3 runs a cluster on loopback as production does, every member in ESI_ETCD_ENDPOINTS. */
  etcdMembers?: number;
  /**
   * A running real Keystone + Heat (infra/openstack) for the functions instead of the Keystone/Heat
   * simulator (which still runs, unused by them).
   */
  openstack?: RealOpenStack;
}

/** The stack's environment: what the shell had, and the settings every stack sets. */
export type StackEnv = Record<string, string> &
  Record<
    | 'AWS_REGION'
    | 'ESI_STAGE'
    | 'ESI_ETCD_ENDPOINTS'
    | 'ESI_SQS_ENDPOINT'
    | 'ESI_LAMBDA_ENDPOINT'
    | 'ESI_KEYSTONE_URL'
    | 'ESI_COLLECTOR_URL',
    string
  >;

export interface RunningStack {
  env: StackEnv;
  /** The first etcd member (the only one unless etcdMembers > 1). */
  etcd: EtcdServer;
  etcdMembers: EtcdServer[];
  sqs: LocalSqsServer;
  heat: HeatSimulator;
  collector: CollectorSimulator;
  processes: { name: string; pid: number; logFile: string }[];
  /** The local schedule of the reconciler (EventBridge in AWS): stop it to watch what it would repair. */
  reconciler: { stop(): Promise<void>; start(): void };
  /** Starts the relay again (after it was killed); the caller waits for what it needs. */
  startRelay(): ChildProcess;
  relay(): ChildProcess;
  /** serverless-offline (the Lambda host) now; kill it with killGroup, start it again with startFunctions. */
  functions(): ChildProcess;
  /** Starts serverless-offline again (after it was killed), resolved once its Lambda endpoint answers. */
  startFunctions(): Promise<ChildProcess>;
  stop(): Promise<void>;
}

/** serverless.yml's default maximum concurrency of an event source. */
const DEFAULT_MAX_CONCURRENCY = 2;

/** A log level above INFO: a stack at one of these prints nothing per resource. */
const quiet = (env: Record<string, string>) =>
  ['WARN', 'ERROR', 'CRITICAL', 'SILENT'].includes((env.ESI_LOG_LEVEL ?? '').toUpperCase());

const ROOT = path.resolve(__dirname, '..', '..');
const bin = (name: string) => path.join(ROOT, 'node_modules', '.bin', name);

/**
 * Starts every server in order, each reported only once it answers. When one fails, everything
 * started before it is stopped and the error says which one failed.
 */
/** How long after a relay ended itself it is started again (ECS takes about as long). */
const RELAY_RESTART_MS = 1000;

export async function startStack(opts: StackOptions): Promise<RunningStack> {
  const started = opts.started ?? new Started();
  try {
    return await startAll(opts, started);
  } catch (err) {
    await started.stopAll();
    throw err;
  }
}

async function startAll(opts: StackOptions, started: Started): Promise<RunningStack> {
  const log = opts.log ?? (() => undefined);
  const logDir = opts.logDir ?? path.join(opts.dataDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  ensureEtcdInstalled(log);
  const etcdMembers =
    (opts.etcdMembers ?? 1) > 1
      ? await startEtcdCluster({
          members: [
            { clientPort: opts.ports.etcd, peerPort: opts.ports.etcdPeer },
            ...(await Promise.all(
              Array.from({ length: opts.etcdMembers! - 1 }, async () => ({
                clientPort: await freePort(),
                peerPort: await freePort(),
              })),
            )),
          ],
          dataDir: path.join(opts.dataDir, 'etcd'),
          logDir,
          onSpawn: started.onSpawn,
        })
      : [
          await startEtcd({
            clientPort: opts.ports.etcd,
            peerPort: opts.ports.etcdPeer,
            dataDir: path.join(opts.dataDir, 'etcd'),
            logFile: path.join(logDir, 'etcd.log'),
            onSpawn: started.onSpawn,
          }),
        ];
  const [etcd] = etcdMembers;
  if (!etcd) throw new Error('no etcd member started');
  for (const m of etcdMembers) log(`etcd        ${m.clientUrl}  (data ${m.dataDir}, pid ${m.pid})`);
  const sqs = await startSqsServer(opts.ports.sqs, {
    logFile: path.join(logDir, 'sqs-server.log'),
    onSpawn: started.onSpawn,
  });
  log(`SQS server  ${sqs.endpoint}  (pid ${sqs.pid})`);
  // The external systems we do not own: Keystone + Heat and the monitoring collector.
  const sim = opts.simulators ?? {};
  const collector = await startCollectorSimulator({
    port: opts.ports.collector,
    autoStatus: sim.collectorAutoStatus ?? 'UP',
    autoStatusDelayMs: 500,
    ...definedOnly({ statuses: sim.collectorStatuses, statusesSince: sim.collectorStatusesSince }),
  });
  started.add('collector simulator', () => collector.stop());
  const heat = await startHeatSimulator({
    port: opts.ports.heat,
    ...definedOnly({ fixtures: sim.heatFixtures }),
    latencyMs: sim.heatLatencyMs ?? 500,
    collectorUrl: collector.url,
  });
  started.add('Keystone/Heat simulator', () => heat.stop());
  // Real Heat's monitoring targets register with this stack's collector (as the original plugin did).
  opts.openstack?.useCollector(collector.url);
  if (!opts.openstack) log(`Keystone    ${heat.keystoneUrl}  (simulator; Heat behind its catalog)`);
  log(`collector   ${collector.url}  (simulator)`);

  const env: StackEnv = {
    ...(process.env as Record<string, string>),
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    ESI_STAGE: opts.stage ?? 'dev',
    ESI_ETCD_ENDPOINTS: etcdMembers.map((m) => m.clientUrl).join(','),
    ESI_SQS_ENDPOINT: sqs.endpoint,
    ESI_LAMBDA_ENDPOINT: `http://127.0.0.1:${opts.ports.lambda}`,
    ESI_LAMBDA_PORT: String(opts.ports.lambda),
    ESI_HTTP_PORT: String(opts.ports.http),
    ESI_KEYSTONE_URL: heat.keystoneUrl,
    ESI_KEYSTONE_USERNAME: heat.credentials.username,
    ESI_KEYSTONE_PASSWORD: heat.credentials.password,
    ESI_KEYSTONE_PROJECT: heat.credentials.projectName,
    ESI_COLLECTOR_URL: collector.url,
    ...(opts.openstack ? realOpenStackEnv(opts.openstack) : {}),
    // Seconds a key must stand still before the reconciler repairs it (30 in AWS; the local
    // reconciler runs every few seconds, so it may act sooner).
    ESI_RECONCILE_GRACE_SECONDS: process.env.ESI_RECONCILE_GRACE_SECONDS ?? '5',
    ...opts.env,
  };
  // The backlog grace is serverless.yml's (the bound on a dead consumer's in-flight messages), unless set.
  // No metrics (EMF lines: nothing reads them locally) when the log level is above INFO, unless set.
  env.POWERTOOLS_METRICS_DISABLED ??= String(quiet(env));

  const children: Spawned[] = [];
  const spawnLogged = (name: string, cmd: string, args: string[], childEnv: NodeJS.ProcessEnv) => {
    const logFile = path.join(logDir, `${name}.log`);
    const offset = logOffset(logFile);
    const p = spawnServer(name, cmd, args, {
      cwd: ROOT,
      env: childEnv,
      logFile,
      onSpawn: started.onSpawn,
    });
    children.push(p);
    return { p, offset };
  };

  let functions!: Spawned;
  const startFunctions = async (): Promise<ChildProcess> => {
    const offline = spawnLogged(
      'serverless-offline',
      bin('serverless'),
      [
        'offline',
        'start',
        '--stage',
        env.ESI_STAGE,
        '--noTimeout',
        ...localParams(env).map(([name, value]) => `--param=${name}=${value}`),
      ],
      {
        // A quiet stack: not serverless-offline's line per invocation either (its warnings and errors stay).
        ...(quiet(env) ? { SLS_LOG_LEVEL: 'warning' } : {}),
        ...functionsHostEnv(env),
      },
    );
    functions = offline.p;
    await waitUntilServing(offline.p, opts.ports.lambda, 60_000);
    // The local SQS event source says it has started, after serverless-offline's Lambda endpoint.
    await waitForLogLine(offline.p, /^\[local-sqs\] \d+ poller\(s\) started$/m, offline.offset, 60_000);
    return offline.p.child;
  };
  await startFunctions();
  log(`functions   serverless-offline, Lambda endpoint ${env.ESI_LAMBDA_ENDPOINT} (pid ${functions.child.pid})`);

  // Scheduled functions (EventBridge in AWS): the monitoring sync.
  const schedule: LocalSchedule = scheduleInvocations({
    lambdaEndpoint: env.ESI_LAMBDA_ENDPOINT,
    region: env.AWS_REGION,
    functionNames: [`esi-${env.ESI_STAGE}-monitoring-sync`],
    periodMs: Number(env.ESI_MONITORING_SYNC_MS ?? 2000),
    logFile: path.join(logDir, 'scheduler.log'),
  });
  started.add('scheduler', () => schedule.stop());
  // The reconciler (every minute in AWS): every ESI_RECONCILE_MS here; 0 = not scheduled.
  const reconcileMs = Number(env.ESI_RECONCILE_MS ?? 3000);
  let reconcilerSchedule: LocalSchedule | undefined;
  const reconciler = {
    start() {
      if (!(reconcileMs > 0)) return;
      reconcilerSchedule ??= scheduleInvocations({
        lambdaEndpoint: env.ESI_LAMBDA_ENDPOINT,
        region: env.AWS_REGION,
        functionNames: [`esi-${env.ESI_STAGE}-reconciler`],
        periodMs: reconcileMs,
        logFile: path.join(logDir, 'scheduler.log'),
      });
    },
    async stop() {
      const s = reconcilerSchedule;
      reconcilerSchedule = undefined;
      await s?.stop();
    },
  };
  reconciler.start();
  started.add('reconciler schedule', () => reconciler.stop());

  let relay!: { p: Spawned; offset: number };
  let stopping = false;
  // The relay says it is up in a file (shared/relay/ready-file.ts), whatever its log level.
  const relayReadyFile = path.join(opts.dataDir, 'relay.ready');
  const startRelay = () => {
    removeReadyFile(relayReadyFile);
    // One process (not the tsx CLI, which runs the script in a child), so its PID is the relay's.
    relay = spawnLogged('relay', process.execPath, ['--import', 'tsx', path.join(ROOT, 'functions/relay/main.ts')], {
      ...env,
      ESI_RELAY_READY_FILE: relayReadyFile,
    });
    const child = relay.p.child;
    // As ECS replaces a relay task that stops: a relay that ends itself with an error (a watch it
    // could not open in time, a checkpoint it could not write) is started again, from its
    // checkpoint. One ended by a signal is the caller's to start again (a test's fault).
    child.on('exit', (code) => {
      if (stopping || code === null || code === 0) return;
      setTimeout(() => {
        if (stopping || relay.p.child !== child) return;
        log(`relay exited (${code}); starting it again`);
        startRelay();
      }, RELAY_RESTART_MS);
    });
    return child;
  };
  startRelay();
  await waitUntilReady(relay.p, () => relayReady(relayReadyFile, relay.p.child.pid), 60_000);
  log(`relay       pid ${relay.p.child.pid}`);
  log(`logs        ${logDir}`);

  return {
    env,
    etcd,
    etcdMembers,
    sqs,
    heat,
    collector,
    get processes() {
      return children.map((c) => ({ name: c.name, pid: c.child.pid!, logFile: c.logFile! }));
    },
    reconciler,
    startRelay,
    relay: () => relay.p.child,
    functions: () => functions.child,
    startFunctions,
    stop: () => {
      stopping = true;
      return started.stopAll();
    },
  };
}

/** The functions' Keystone settings for a real Keystone + Heat. */
export function realOpenStackEnv(os: RealOpenStack): Record<string, string> {
  return {
    ESI_KEYSTONE_URL: os.keystoneUrl,
    ESI_KEYSTONE_USERNAME: os.credentials.username,
    ESI_KEYSTONE_PASSWORD: os.credentials.password,
    ESI_KEYSTONE_PROJECT: os.credentials.projectName,
    ESI_KEYSTONE_USER_DOMAIN: os.credentials.userDomainName,
    ESI_KEYSTONE_PROJECT_DOMAIN: os.credentials.projectDomainName,
    ESI_HEAT_REGION: os.region,
    ...(os.caBundle ? { ESI_OPENSTACK_CA: os.caBundle } : {}),
  };
}

/** The variables serverless.yml itself reads from serverless-offline's environment (`${env:…}`). */
const READ_BY_SERVERLESS_YML = ['ESI_HTTP_PORT', 'ESI_LAMBDA_PORT', 'ESI_SQS_ENDPOINT'];

/**
 * serverless-offline's own environment: the stack's, less the functions' settings (`ESI_*`,
 * `POWERTOOLS_*`) but those serverless.yml reads itself. Its functions run in this process and
 * share its process.env, into which serverless-offline copies each function's environment from
 * serverless.yml before each invocation: so they get what serverless.yml gives them and nothing
 * else, as in AWS.
 */
export function functionsHostEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(([k]) => !/^(ESI|POWERTOOLS)_/.test(k) || READ_BY_SERVERLESS_YML.includes(k)),
  );
}

/**
 * serverless.yml reads nothing from the shell: the local stack hands the functions its loopback
 * servers and simulators as params, marked `local` (no deployment checks apply to it).
 */
export function localParams(env: Record<string, string | undefined>): [string, string][] {
  const from: Record<string, string> = {
    etcdEndpoints: 'ESI_ETCD_ENDPOINTS',
    sqsEndpoint: 'ESI_SQS_ENDPOINT',
    keystoneUrl: 'ESI_KEYSTONE_URL',
    keystoneUsername: 'ESI_KEYSTONE_USERNAME',
    keystonePassword: 'ESI_KEYSTONE_PASSWORD',
    keystoneProject: 'ESI_KEYSTONE_PROJECT',
    keystoneUserDomain: 'ESI_KEYSTONE_USER_DOMAIN',
    keystoneProjectDomain: 'ESI_KEYSTONE_PROJECT_DOMAIN',
    heatInterface: 'ESI_HEAT_INTERFACE',
    heatRegion: 'ESI_HEAT_REGION',
    httpTimeoutMs: 'ESI_HTTP_TIMEOUT_MS',
    collectorUrl: 'ESI_COLLECTOR_URL',
    logLevel: 'ESI_LOG_LEVEL',
    logSampleRate: 'POWERTOOLS_LOGGER_SAMPLE_RATE',
    metricsDisabled: 'POWERTOOLS_METRICS_DISABLED',
    statePrefix: 'ESI_STATE_PREFIX',
    keyDeleteState: 'ESI_KEY_DELETE_STATE',
    monitoringPrefix: 'ESI_MONITORING_PREFIX',
    jobLeaseSeconds: 'ESI_JOB_LEASE_SECONDS',
    jobPollSeconds: 'ESI_JOB_POLL_SECONDS',
    jobMaxAttempts: 'ESI_JOB_MAX_ATTEMPTS',
    jobQuickPollMs: 'ESI_JOB_QUICK_POLL_MS',
    reconcileGraceSeconds: 'ESI_RECONCILE_GRACE_SECONDS',
    reconcileBacklogGraceSeconds: 'ESI_RECONCILE_BACKLOG_GRACE_SECONDS',
    // Pollers of the local event sources (one per unit of an event source's maximum concurrency).
    plannerMaxConcurrency: 'ESI_PLANNER_CONCURRENCY',
    heatJobsMaxConcurrency: 'ESI_HEAT_JOBS_CONCURRENCY',
    heatPollMaxConcurrency: 'ESI_HEAT_POLL_CONCURRENCY',
    aggregatorMaxConcurrency: 'ESI_AGGREGATOR_CONCURRENCY',
  };
  const params: [string, string][] = [['local', 'true']];
  for (const [name, variable] of Object.entries(from)) if (env[variable]) params.push([name, env[variable]]);
  // A function's reserved concurrency is the sum of its sources' maxima (serverless.yml): raised with them.
  const reserved: [string, string[]][] = [
    ['plannerReserved', ['plannerMaxConcurrency']],
    ['heatReserved', ['heatJobsMaxConcurrency', 'heatPollMaxConcurrency']],
    ['aggregatorReserved', ['aggregatorMaxConcurrency']],
  ];
  const given = new Map(params);
  for (const [name, sources] of reserved)
    if (sources.some((p) => given.has(p)))
      params.push([name, String(sources.reduce((n, p) => n + Number(given.get(p) ?? DEFAULT_MAX_CONCURRENCY), 0))]);
  return params;
}

/** SIGKILL to a process the stack started and to its process group (its workers); resolved once it is gone. */
export async function killGroup(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    return;
  }
  await exited;
}
