import fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const servers = (globalThis as Record<string, any>).__ESI_TEST__;
  if (!servers) return;
  await servers.sqs.stop();
  await servers.etcd.stop();
  if (!process.env.ESI_KEEP_TEST_DATA) fs.rmSync(servers.root, { recursive: true, force: true });
}
