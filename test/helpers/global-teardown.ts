import fs from 'node:fs';

/** What global-setup leaves on globalThis for this teardown. */
interface TestServers {
  root: string;
  sqs: { stop(): Promise<void> };
  etcd: { stop(): Promise<void> };
}

export default async function globalTeardown(): Promise<void> {
  const servers = (globalThis as { __ESI_TEST__?: TestServers }).__ESI_TEST__;
  if (!servers) return;
  await servers.sqs.stop();
  await servers.etcd.stop();
  if (!process.env.ESI_KEEP_TEST_DATA) fs.rmSync(servers.root, { recursive: true, force: true });
}
