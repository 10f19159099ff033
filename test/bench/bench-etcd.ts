/**
 * A benchmark's own etcd: installed if needed, started on free loopback ports with its data in a
 * new temporary folder (removed by stopAndRemove), and published in ESI_ETCD_ENDPOINTS (modules that read it must be loaded
 * after this resolves).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureEtcdInstalled, startEtcd, type EtcdServer } from '../../infra/local/etcd-server';
import { freePort } from '../../infra/local/ports';

export async function startBenchEtcd(name: string): Promise<EtcdServer & { stopAndRemove(): Promise<void> }> {
  ensureEtcdInstalled();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `esi-bench-${name}-`));
  const etcd = await startEtcd({
    clientPort: await freePort(),
    peerPort: await freePort(),
    dataDir: path.join(root, 'etcd'),
  });
  process.env.ESI_ETCD_ENDPOINTS = etcd.clientUrl;
  return Object.assign(etcd, {
    async stopAndRemove() {
      await etcd.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  });
}
