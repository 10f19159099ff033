import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeStackPorts, type RunningStack, type SimulatorOptions, startStack } from '../../infra/stack/stack';
import type { RealOpenStack } from '../../infra/openstack/openstack';
import { EtcdStore } from '../../shared/store/etcd-store';
import { definedOnly } from '../../shared/defined-only';

/**
 * The whole local stack on free ports, with its own data folder under the test run's root. A port
 * found free can be taken by another process before the stack binds it: a start that fails on a
 * port in use is tried again on new ports.
 */
export async function startTestStack(
  name: string,
  env: Record<string, string> = {},
  simulators: SimulatorOptions = {},
  o: { etcdMembers?: number; openstack?: RealOpenStack } = {},
): Promise<RunningStack> {
  const root = process.env.ESI_TEST_ROOT ?? fs.mkdtempSync(path.join(os.tmpdir(), 'esi-e2e-'));
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStack({
        dataDir: path.join(root, attempt === 1 ? `stack-${name}` : `stack-${name}-${attempt}`),
        stage: name,
        ports: await freeStackPorts(),
        env: { ESI_LOG_LEVEL: 'INFO', ...env },
        simulators,
        ...definedOnly({ etcdMembers: o.etcdMembers, openstack: o.openstack }),
      });
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|address already in use/.test(String(err))) throw err;
    }
  }
}

export interface StackFixture {
  stack: () => RunningStack;
  store: () => EtcdStore;
  /** The JSON value of a key, or undefined when it is absent. */
  json: (key: string) => Promise<Record<string, unknown> | undefined>;
}

/** Starts a test stack before the file's tests and stops it after, with a store on its etcd. */
export function useTestStack(name: string): StackFixture {
  let stack: RunningStack | undefined;
  let store: EtcdStore | undefined;
  beforeAll(async () => {
    stack = await startTestStack(name);
    store = new EtcdStore({ endpoints: [stack.env.ESI_ETCD_ENDPOINTS] });
  });
  afterAll(async () => {
    store?.close();
    await stack?.stop();
  });
  return {
    stack: () => stack!,
    store: () => store!,
    json: async (key) => {
      const kv = await store!.get(key);
      return kv ? (JSON.parse(kv.value) as Record<string, unknown>) : undefined;
    },
  };
}
