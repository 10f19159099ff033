/** The relay's heartbeat (the ECS health check's signal): beats only while every watch has spoken recently. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHeartbeat } from '../../../shared/relay/ready-file';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-heartbeat-'));

test('every watch heard from within the stall limit: the file is written', () => {
  const file = path.join(dir, 'live');
  clearInterval(startHeartbeat(file, () => [100, 2000], { everyMs: 60_000, stallMs: 180_000 }));
  expect(fs.existsSync(file)).toBe(true);
});

test('one watch silent past the limit: no beat, so the health check fails and ECS replaces the task', () => {
  const file = path.join(dir, 'stalled');
  clearInterval(startHeartbeat(file, () => [100, 200_000], { everyMs: 60_000, stallMs: 180_000 }));
  expect(fs.existsSync(file)).toBe(false);
});

test('stall limit 0 (no progress notifications): beats whatever the watches say', () => {
  const file = path.join(dir, 'off');
  clearInterval(startHeartbeat(file, () => [10_000_000], { everyMs: 60_000, stallMs: 0 }));
  expect(fs.existsSync(file)).toBe(true);
});
