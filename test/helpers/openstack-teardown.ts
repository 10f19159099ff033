import fs from 'node:fs';
import path from 'node:path';
import { attachOpenStack } from '../../infra/openstack/openstack';

/** Stops the run's Keystone and Heat by PID; keeps their logs (a failure is read there), drops the rest. */
export default async function openStackTeardown(): Promise<void> {
  const dir = (globalThis as { __ESI_OPENSTACK__?: string }).__ESI_OPENSTACK__;
  if (!dir) return;
  await attachOpenStack(dir).stop();
  if (process.env.ESI_KEEP_TEST_DATA) return;
  for (const entry of fs.readdirSync(dir))
    if (entry !== 'logs') fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
}
